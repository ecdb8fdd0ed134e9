public import Logging
import PostgresNIO

/// How long what no one needs is kept before maintenance deletes it.
///
/// Each age counts from the moment a row stopped being useful: a delivery from when it was sent
/// (or last tried, for a dead one), a token from its expiry or revocation, a one-time link from
/// its expiry or use, a digest from when it was made. Defaults: sent deliveries 90 days, dead
/// ones 365 days (an operator may still re-drive them), tokens and links 30 days, digests 90 days.
public struct RetentionPolicy: Sendable, Equatable {
    public static let day: Duration = .seconds(86_400)

    public var sentDeliveries: Duration = day * 90
    public var deadDeliveries: Duration = day * 365
    public var tokens: Duration = day * 30
    public var digests: Duration = day * 90

    public init() {}
}

/// Deletes, in small batches, what no one needs forever: old sent and dead deliveries, tokens and
/// one-time links long expired, revoked or used, and old digests.
///
/// The history is the audit trail and is never touched here: issues, events, assignments and
/// escalations stay forever.
///
/// Why no deletion here can make anything happen twice: every message is queued in the
/// transaction that records its cause, and it is the cause that is unique, not the outbox row.
/// A routing is one `routed` event (`events_routed_once`), an escalation step is one
/// `escalations` row (its primary key), a scheduled digest is one `digests` row per group and day
/// (`digests_daily_once`), a lifecycle message is written with the event of the action. None of
/// those is deleted here, except digests of days long past: the digest service only ever asks
/// whether *today's* digest exists, and the latest scheduled digest of each group is kept anyway.
/// Nothing reads the outbox to decide whether to queue again, except the password-reset email,
/// which looks back five minutes; retention ages are days. Outbox ids come from an identity, so
/// a new message never reuses a deleted row's id (nor, therefore, its Message-ID).
///
/// Every batch is one autocommit statement that claims its rows with `FOR UPDATE SKIP LOCKED`:
/// replicas running maintenance at once never wait on each other and never delete a row twice.
public struct MaintenanceStore: Sendable {
    public let client: Database

    public init(client: Database) {
        self.client = client
    }

    /// What maintenance deletes, one kind of row each; the raw value names it in metrics and logs.
    public enum Target: String, Sendable, CaseIterable {
        /// Outbox rows sent longer ago than ``RetentionPolicy/sentDeliveries``.
        case sentDeliveries = "deliveries_sent"
        /// Outbox rows dead (given up on) and last tried longer ago than ``RetentionPolicy/deadDeliveries``.
        case deadDeliveries = "deliveries_dead"
        /// API tokens expired or revoked longer ago than ``RetentionPolicy/tokens``.
        case tokens
        /// Invitation and reset links expired or used longer ago than ``RetentionPolicy/tokens``.
        case accountLinks = "account_links"
        /// Digests made longer ago than ``RetentionPolicy/digests``, except each group's latest scheduled one.
        case digests
    }

    /// Deletes up to `limit` rows of `target` older than `age`, in one short statement; returns how many.
    public func deleteBatch(_ target: Target, olderThan age: Duration, limit: Int, logger: Logger) async throws -> Int {
        let (table, condition, order) = Self.selection(target)
        let seconds = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
        let rows = try await client.query("""
            WITH cutoff AS (SELECT now() - make_interval(secs => \(seconds)) AS at),
            c AS (
                SELECT t.id FROM escalated.\(unescaped: table) t, cutoff
                 WHERE \(unescaped: condition)
                 ORDER BY \(unescaped: order) LIMIT \(limit) FOR UPDATE OF t SKIP LOCKED
            ),
            d AS (DELETE FROM escalated.\(unescaped: table) x USING c WHERE x.id = c.id RETURNING 1)
            SELECT count(*)::int8 FROM d
            """, logger: logger).decode(Int64.self)
        let count = try await rows.first { _ in true } ?? 0
        return Int(count)
    }

    /// The table, the condition on its row `t` (with `cutoff.at`) and the order each target's batches take.
    static func selection(_ target: Target) -> (table: String, condition: String, order: String) {
        switch target {
        case .sentDeliveries:
            // The partial index outbox_sent (009) holds exactly these rows, oldest first.
            ("outbox", "t.state = 'sent' AND t.sent_at < cutoff.at", "t.sent_at")
        case .deadDeliveries:
            // A dead row keeps the end of its last lease in next_attempt_at (or the time it was
            // written, for one written dead): that is when it was last tried. outbox_dead (003).
            ("outbox", "t.state = 'dead' AND t.next_attempt_at < cutoff.at", "t.id")
        case .tokens:
            ("tokens", "(t.revoked_at < cutoff.at OR t.expires_at < cutoff.at)", "t.id")
        case .accountLinks:
            // least() ignores nulls: the moment the link stopped working, used or expired.
            ("account_links", "least(t.used_at, t.expires_at) < cutoff.at", "t.id")
        case .digests:
            ("digests", """
                t.created_at < cutoff.at AND NOT (t.scheduled AND NOT EXISTS (
                    SELECT 1 FROM escalated.digests n WHERE n.scheduled AND n.group_code = t.group_code AND n.day > t.day))
                """, "t.id")
        }
    }

    /// The age `policy` keeps rows of `target`.
    public static func age(of target: Target, in policy: RetentionPolicy) -> Duration {
        switch target {
        case .sentDeliveries: policy.sentDeliveries
        case .deadDeliveries: policy.deadDeliveries
        case .tokens, .accountLinks: policy.tokens
        case .digests: policy.digests
        }
    }
}
