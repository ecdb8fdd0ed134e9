public import PostgresNIO

/// What a wake-up on the daemon's one NOTIFY channel is about.
///
/// NOTIFY is a hint only (the tables are the truth): every writer that leaves work for a loop
/// sends that loop's topic in the same transaction, and the listener wakes the loop. The SQL side
/// (``notifySQL``) and the dispatch (``init(payload:)``) read the same values.
public enum WakeTopic: String, Sendable, Hashable, CaseIterable {
    /// New reports to route. Sent by the issues trigger (migrations 001 and 004, which spell it out).
    case issues
    /// A deadline or an escalation step falls due soon: the escalators look.
    case deadlines
    /// Messages wait in the outbox: the deliverers look.
    case outbox
    /// The directory changed: parked issues are routed again, schedules are read again.
    case directory
    /// History was written (any event): the live feeds of open web pages read it. Sent by the
    /// events trigger (migration 007, which spells it out).
    case events
    /// The listener's own heartbeat, which proves the connection end to end.
    case ping

    /// The channel every topic travels on.
    public static let channel = "escalated_wakeup"

    /// The topic of a notification's payload; an unknown payload is nil.
    public init?(payload: String) {
        self.init(rawValue: payload)
    }

    /// `pg_notify('escalated_wakeup', 'TOPIC')`, for a statement that sends it beside its writes.
    public var notifySQL: String { "pg_notify('\(Self.channel)', '\(rawValue)')" }

    /// A statement that sends the topic alone.
    public var notifyQuery: PostgresQuery { PostgresQuery(unsafeSQL: "SELECT \(notifySQL)") }
}
