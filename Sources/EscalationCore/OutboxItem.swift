public import Foundation

/// One message waiting in the outbox, with what is needed to compose it: the recipient, the
/// causing event's data and the issue as it is now.
public struct OutboxItem: Sendable, Equatable {
    /// The delivery's id (its Message-ID and webhook Idempotency-Key derive from it).
    public var id: Int64
    /// The message's kind: `routed`, `escalated`, `reminder` or `digest`.
    public var kind: String
    public var recipientKind: TargetKind
    public var recipientCode: String
    public var channel: DeliveryChannel
    /// Attempts so far, this one included.
    public var attempts: Int
    /// The causing event's data (level, repeat, clock for escalations; the report for digests).
    public var data: JSONValue
    /// The issue's fields; empty for a digest.
    public var issueID: Int64?
    public var title: String
    public var description: String
    public var unit: String
    public var sector: String
    public var severity: Severity
    public var acknowledgeDue: Date?
    public var resolveDue: Date?
    /// The agency responsible now.
    public var agency: String?
    /// The directory revision to compose with.
    public var revision: Int64
    /// For escalations and reminders: when the step was due.
    public var escalationDue: Date?
    /// How long the row had waited in the outbox when leased.
    public var waitedSeconds: Double
    /// For a message to a web account: its name, address and language (nil when it is disabled).
    public var account: AccountAddress?

    public init(id: Int64, kind: String, recipientKind: TargetKind, recipientCode: String, channel: DeliveryChannel,
                attempts: Int = 1, data: JSONValue = .null, issueID: Int64? = nil, title: String = "", description: String = "",
                unit: String = "", sector: String = "", severity: Severity = .normal, acknowledgeDue: Date? = nil,
                resolveDue: Date? = nil, agency: String? = nil, revision: Int64 = 1, escalationDue: Date? = nil,
                waitedSeconds: Double = 0) {
        self.id = id
        self.kind = kind
        self.recipientKind = recipientKind
        self.recipientCode = recipientCode
        self.channel = channel
        self.attempts = attempts
        self.data = data
        self.issueID = issueID
        self.title = title
        self.description = description
        self.unit = unit
        self.sector = sector
        self.severity = severity
        self.acknowledgeDue = acknowledgeDue
        self.resolveDue = resolveDue
        self.agency = agency
        self.revision = revision
        self.escalationDue = escalationDue
        self.waitedSeconds = waitedSeconds
    }
}

/// Where a message to a web account goes.
public struct AccountAddress: Sendable, Equatable {
    public var name: String
    public var email: String
    public var locale: PersonLocale

    public init(name: String, email: String, locale: PersonLocale) {
        self.name = name
        self.email = email
        self.locale = locale
    }
}
