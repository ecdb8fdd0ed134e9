public import EscalationCore
public import Foundation

/// An issue as stored, with what routing gave it and its history.
public struct IssueRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var unit: String
    public var sector: String
    public var severity: Severity
    public var title: String
    public var description: String
    public var reporter: String?
    public var origin: IssueOrigin
    public var state: IssueState
    public var version: Int
    public var createdAt: Date
    public var routedAt: Date?
    public var updatedAt: Date
    /// One per target: agency, member, then watchers. Absent (nil) in list views.
    public var assignments: [AssignmentRecord]?
    /// The full history, oldest first. Absent in list views.
    public var events: [EventRecord]?

    enum CodingKeys: String, CodingKey {
        case id, unit, sector, severity, title, description, reporter, origin, state, version, assignments, events
        case createdAt = "created_at"
        case routedAt = "routed_at"
        case updatedAt = "updated_at"
    }
}

/// One target of a routed issue, as stored.
public struct AssignmentRecord: Sendable, Equatable, Codable {
    public var kind: TargetKind
    public var code: String
    public var role: AssignmentRole
    public var rule: String?
    public var assignedAt: Date

    enum CodingKeys: String, CodingKey {
        case kind, code, role, rule
        case assignedAt = "assigned_at"
    }
}

/// One history row.
public struct EventRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var kind: String
    public var actor: String
    public var at: Date
    public var data: JSONValue
}

/// Which issues a list returns; nil fields do not filter.
public struct IssueFilter: Sendable, Equatable {
    public var unit: String?
    public var sector: String?
    public var agency: String?
    public var state: IssueState?
    /// Return issues with an id below this one (the cursor of the previous page).
    public var before: Int64?
    public var limit: Int

    /// The most a page may hold.
    public static let maximumLimit = 200

    public init(unit: String? = nil, sector: String? = nil, agency: String? = nil, state: IssueState? = nil, before: Int64? = nil, limit: Int = 50) {
        self.unit = unit
        self.sector = sector
        self.agency = agency
        self.state = state
        self.before = before
        self.limit = limit
    }
}

/// One page of issues, newest first, and where the next page starts.
public struct IssuePage: Sendable, Equatable {
    public var items: [IssueRecord]
    /// Pass as `before` for the next page; nil on the last page.
    public var nextBefore: Int64?
}
