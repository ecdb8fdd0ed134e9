import EscalationCore

/// The one way outbox rows are written: routing, escalation, the lifecycle and digests all insert
/// through ``insert(_:)`` and wake the deliverers with ``wakeDeliverers(after:)``.
///
/// The rule for a recipient the directory gives no way to be told: one row on the channel
/// `none`, written dead with an answer that says so, visible to operators rather than silent.
/// The channel lists come from ``channelValues(_:)`` (Swift) or ``channelsOrNone(_:)`` (SQL,
/// where the channels travel inside a JSON value).
enum OutboxSQL {
    /// The channel a recipient without any gets.
    static let none = "none"

    /// The outbox channels of a recipient: one row per channel, or one `none` row.
    static func channelValues(_ channels: [DeliveryChannel]) -> [String] {
        channels.isEmpty ? [none] : channels.map(\.rawValue)
    }

    /// ``channelValues(_:)`` in SQL, for a `text[]` expression.
    static func channelsOrNone(_ array: String) -> String {
        "CASE WHEN cardinality(\(array)) > 0 THEN \(array) ELSE ARRAY['\(none)'] END"
    }

    /// An `INSERT` of the rows `select` yields, as columns `(issue_id, event_id, kind,
    /// recipient_kind, recipient_code, data, channel)`; it returns each row's `channel`.
    static func insert(_ select: String) -> String {
        """
        INSERT INTO escalated.outbox (issue_id, event_id, kind, recipient_kind, recipient_code, data, channel, state, last_answer)
        SELECT q.issue_id, q.event_id, q.kind, q.recipient_kind, q.recipient_code, q.data, q.channel,
               CASE WHEN q.channel = '\(none)' THEN 'dead' ELSE 'pending' END,
               CASE WHEN q.channel = '\(none)' THEN 'no email address or webhook in the directory' END
          FROM (\(select)) AS q(issue_id, event_id, kind, recipient_kind, recipient_code, data, channel)
        RETURNING channel
        """
    }

    /// Wakes the deliverers once when the inserted rows (the CTE `cte`, from ``insert(_:)``)
    /// hold anything to send.
    static func wakeDeliverers(after cte: String) -> String {
        "SELECT \(WakeTopic.outbox.notifySQL) FROM \(cte) WHERE channel <> '\(none)' LIMIT 1"
    }
}
