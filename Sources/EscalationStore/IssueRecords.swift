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
    /// Deadlines (nil before routing or when the sector sets none) and the one running now.
    public var deadlines: DeadlinesRecord
    /// Where the issue stands on its escalation chain.
    public var escalation: EscalationRecord
    /// One per target: agency, member, then watchers. Absent (nil) in list views.
    public var assignments: [AssignmentRecord]?
    /// The full history, oldest first. Absent in list views.
    public var events: [EventRecord]?

    enum CodingKeys: String, CodingKey {
        case id, unit, sector, severity, title, description, reporter, origin, state, version, assignments, events, deadlines, escalation
        case createdAt = "created_at"
        case routedAt = "routed_at"
        case updatedAt = "updated_at"
    }
}

/// An issue's deadlines.
public struct DeadlinesRecord: Sendable, Equatable, Codable {
    public var acknowledgeDueAt: Date?
    public var resolveDueAt: Date?
    /// The deadline running now: acknowledge, then resolve; nil once resolved.
    public var dueAt: Date?
    /// True when the running deadline has passed (by the database's clock).
    public var overdue: Bool
    public var acknowledgedAt: Date?
    public var resolvedAt: Date?

    enum CodingKeys: String, CodingKey {
        case overdue
        case acknowledgeDueAt = "acknowledge_due_at"
        case resolveDueAt = "resolve_due_at"
        case dueAt = "due_at"
        case acknowledgedAt = "acknowledged_at"
        case resolvedAt = "resolved_at"
    }
}

/// The next step of a chain.
public struct NextEscalationRecord: Sendable, Equatable, Codable {
    public var level: Int
    public var `repeat`: Int
    public var at: Date
}

/// An issue's place on its escalation chain.
public struct EscalationRecord: Sendable, Equatable, Codable {
    public var chain: String?
    /// The highest level fired so far (0: none).
    public var level: Int
    /// What fires next, if anything.
    public var next: NextEscalationRecord?
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
    /// The person who did it, when a signed-in person did (web actions): their account's name.
    public var accountName: String?

    enum CodingKeys: String, CodingKey {
        case id, kind, actor, at, data
        case accountName = "account_name"
    }
}

/// Which issues a list returns; nil fields do not filter.
public struct IssueFilter: Sendable, Equatable {
    public var unit: String?
    public var area: String?
    public var sector: String?
    public var agency: String?
    public var state: IssueState?
    /// Only open issues (routed, acknowledged, reopened, unroutable): the inbox.
    public var openOnly: Bool
    /// Only issues whose running deadline has passed.
    public var overdue: Bool
    /// Only issues received at or after this time.
    public var since: Date?
    /// Only issues received before this time.
    public var before: Date?
    /// Only issues whose title contains these words (each of them, in any order, case and
    /// accents as typed).
    public var words: String?
    public var sort: IssueSort
    /// Where the previous page stopped (its `next` cursor).
    public var cursor: IssueCursor?
    public var limit: Int

    /// The most a page may hold.
    public static let maximumLimit = 200

    public init(unit: String? = nil, area: String? = nil, sector: String? = nil, agency: String? = nil, state: IssueState? = nil,
                openOnly: Bool = false, overdue: Bool = false, since: Date? = nil, words: String? = nil, sort: IssueSort = .newest,
                cursor: IssueCursor? = nil, limit: Int = 50) {
        self.unit = unit
        self.area = area
        self.sector = sector
        self.agency = agency
        self.state = state
        self.openOnly = openOnly
        self.overdue = overdue
        self.since = since
        self.words = words
        self.sort = sort
        self.cursor = cursor
        self.limit = limit
    }
}

/// The order of a list.
public enum IssueSort: String, Sendable, Equatable, CaseIterable {
    /// Newest first (by id).
    case newest
    /// Oldest first (by id).
    case oldest
    /// Running deadline first (the longest overdue first; no deadline last).
    case due
}

/// Where a page stopped: the last item's id, and for the deadline order its due time in
/// microseconds since 1970 (`Int64.max` for no deadline).
public struct IssueCursor: Sendable, Equatable {
    public var sort: IssueSort
    public var dueMicros: Int64
    public var id: Int64

    public init(sort: IssueSort, dueMicros: Int64 = 0, id: Int64) {
        self.sort = sort
        self.dueMicros = dueMicros
        self.id = id
    }
}

/// One page of issues and where the next one starts (nil on the last page).
public struct IssuePage: Sendable, Equatable {
    public var items: [IssueRecord]
    public var next: IssueCursor?
}
