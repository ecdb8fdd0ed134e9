public import EscalationCore
public import Logging
import PostgresNIO
public import Foundation

/// Digests: a report of what is open, overdue and resolved, and how fast, made for a supervisor
/// group and written into the outbox for each member, in one transaction.
public struct DigestStore: Sendable {
    public let client: Database
    public let instance: String

    public init(client: Database, instance: String) {
        self.client = client
        self.instance = instance
    }

    /// The database's clock now.
    public func now(logger: Logger) async throws -> Date {
        var now = Date()
        for try await value in try await client.query("SELECT now()", logger: logger).decode(Date.self) { now = value }
        return now
    }

    /// True when the scheduled digest of `group` for local `day` was made.
    public func madeDaily(group: String, day: LocalDate, logger: Logger) async throws -> Bool {
        var found = false
        for try await _ in try await client.query("""
            SELECT 1 FROM escalated.digests WHERE group_code = \(group) AND day = \(day.description)::date AND scheduled
            """, logger: logger) {
            found = true
        }
        return found
    }

    /// Makes a digest of `group` for `day` and queues it for `members` (person code and channels).
    /// A scheduled digest is made once per group and day: the call returns nil when it exists.
    public func make(group: String, day: LocalDate, scheduled: Bool, members: [(String, [DeliveryChannel])], logger: Logger) async throws -> Int64? {
        let codes = members.flatMap { code, channels in OutboxSQL.channelValues(channels).map { _ in code } }
        let channels = members.flatMap { _, channels in OutboxSQL.channelValues(channels) }
        var made: Int64?
        for try await (id, _) in try await client.query("""
            WITH report AS (SELECT \(unescaped: Self.reportSQL) AS r),
            d AS (
                INSERT INTO escalated.digests (group_code, day, scheduled, report, created_by)
                SELECT \(group), \(day.description)::date, \(scheduled), r, \(instance) FROM report
                ON CONFLICT (group_code, day) WHERE scheduled DO NOTHING
                RETURNING id, group_code, day, report
            ),
            m AS (SELECT * FROM unnest(\(codes)::text[], \(channels)::text[]) AS m(code, ch)),
            o AS (\(unescaped: OutboxSQL.insert("""
                SELECT NULL::int8, NULL::int8, 'digest', 'person', m.code,
                       jsonb_build_object('digest_id', d.id, 'group', d.group_code, 'day', to_char(d.day, 'YYYY-MM-DD'), 'report', d.report), m.ch
                  FROM d, m
                """))),
            wake AS (\(unescaped: OutboxSQL.wakeDeliverers(after: "o")))
            SELECT (SELECT id FROM d), (SELECT count(*) FROM wake)
            """, logger: logger).decode((Int64?, Int64).self) {
            made = id
        }
        return made
    }

    /// The report, as one jsonb value: totals, per unit, area and agency (open, overdue,
    /// resolved in the last 24 hours), the 10 longest overdue, and the median and 90th
    /// percentile of the time to acknowledge and to resolve over the last 30 days.
    /// Open, overdue and recently resolved issues counted per `key`, most overdue first.
    static func breakdown(key: String, join: String) -> String {
        """
        (SELECT coalesce(jsonb_agg(jsonb_build_object('code', k, 'open', o, 'overdue', v, 'resolved', r) ORDER BY v DESC, o DESC, k), '[]')
           FROM (SELECT \(key) AS k,
                        count(*) FILTER (WHERE i.state IN ('routed', 'acknowledged', 'reopened')) AS o,
                        count(*) FILTER (WHERE i.due_at < now()) AS v,
                        count(*) FILTER (WHERE i.resolved_at >= now() - interval '1 day') AS r
                   FROM escalated.issues i \(join)
                  WHERE i.state IN ('routed', 'acknowledged', 'reopened') OR i.resolved_at >= now() - interval '1 day'
                  GROUP BY 1) t)
        """
    }

    static let reportSQL = """
        jsonb_build_object(
            'generated_at', now(),
            'totals', (SELECT jsonb_build_object(
                    'open', count(*) FILTER (WHERE state IN ('routed', 'acknowledged', 'reopened')),
                    'overdue', count(*) FILTER (WHERE due_at < now()),
                    'resolved', count(*) FILTER (WHERE resolved_at >= now() - interval '1 day'))
                FROM escalated.issues WHERE due_at IS NOT NULL OR resolved_at >= now() - interval '1 day'
                   OR state IN ('routed', 'acknowledged', 'reopened')),
            'by_unit', \(breakdown(key: "i.unit_code", join: "")),
            'by_area', \(breakdown(key: "u.area_code", join: "JOIN escalated.units u ON u.code = i.unit_code")),
            'by_agency', \(breakdown(key: "a.target_code", join: "JOIN escalated.assignments a ON a.issue_id = i.id AND a.role = 'agency'")),
            'oldest_overdue', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'title', title, 'unit', unit_code,
                        'due_at', due_at, 'level', escalation_level) ORDER BY due_at, id), '[]')
                FROM (SELECT id, title, unit_code, due_at, escalation_level FROM escalated.issues
                       WHERE due_at < now() ORDER BY due_at, id LIMIT 10) t),
            'time_to_acknowledge', (SELECT jsonb_build_object(
                    'count', count(*),
                    'median_seconds', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - created_at))),
                    'p90_seconds', round(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - created_at))))
                FROM escalated.issues WHERE acknowledged_at >= now() - interval '30 days'),
            'time_to_resolve', (SELECT jsonb_build_object(
                    'count', count(*),
                    'median_seconds', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at))),
                    'p90_seconds', round(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at))))
                FROM escalated.issues WHERE resolved_at >= now() - interval '30 days')
        )
        """
}
