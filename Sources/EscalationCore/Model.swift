/// How urgent a report is.
///
/// Normal issues count working time on their calendar; urgent ones count every hour.
public enum Severity: String, Sendable, Hashable, CaseIterable, Codable {
    case normal
    case urgent
}

/// Where an issue is in its life.
///
/// Escalation is a level, not a state. `unroutable` is a parking state: the issue is kept and is
/// routed again when the directory changes.
public enum IssueState: String, Sendable, Hashable, CaseIterable, Codable {
    case reported
    case routed
    case unroutable
    case acknowledged
    case resolved
    case closed
    case reopened
}

/// Whether a commune-level unit is a rural commune or an urban ward.
public enum UnitKind: String, Sendable, Hashable, CaseIterable, Codable {
    case commune
    case ward
}

/// The language a person reads notifications in.
public enum PersonLocale: String, Sendable, Hashable, CaseIterable, Codable {
    case vi
    case en
}

/// Where an issue came in.
public enum IssueOrigin: String, Sendable, Hashable, CaseIterable, Codable {
    case api
    case cli
    case sql
    /// Filed from the web page by a signed-in person.
    case web
}

/// Who an assignment or a message goes to.
public enum TargetKind: String, Sendable, Hashable, CaseIterable, Codable {
    case agency
    case person
    /// The web accounts of a commune or ward (its staff): a recipient of messages only, never
    /// assigned. The store writes one message per enabled account of the unit.
    case unit
    /// One web account (code: its id): a recipient of messages only (invitations, resets, and a
    /// unit's messages once expanded).
    case account

    /// The kinds an assignment can name (the assignments table holds no others); units and
    /// accounts only ever receive messages.
    public static let assignable: [TargetKind] = [.agency, .person]
}

/// Why a target received an issue.
public enum AssignmentRole: String, Sendable, Hashable, CaseIterable, Codable {
    /// The agency responsible for the issue's sector (or named by a rule).
    case agency
    /// The Standing Committee member in charge of the unit's area (or named by a rule).
    case member
    /// An extra person a rule asks to keep informed.
    case watcher
}

/// One recipient of a routed issue.
public struct Assignment: Sendable, Hashable, Codable {
    public var targetKind: TargetKind
    public var targetCode: String
    public var role: AssignmentRole
    /// The routing rule that chose this target, or nil for the default route.
    public var ruleID: String?

    public init(targetKind: TargetKind, targetCode: String, role: AssignmentRole, ruleID: String? = nil) {
        self.targetKind = targetKind
        self.targetCode = targetCode
        self.role = role
        self.ruleID = ruleID
    }
}
