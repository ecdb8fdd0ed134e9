public import EscalationCore
public import Logging
import PostgresNIO
import Foundation

/// Periodic reports: a supervisor group's weekly or monthly headline figures, made once per
/// group, kind and period, and written into the outbox for each member with an email, in one
/// transaction.
public struct PeriodReportStore: Sendable {
    public let client: Database
    public let instance: String

    public init(client: Database, instance: String) {
        self.client = client
        self.instance = instance
    }

    /// A period's headline figures over the whole directory: the issues received in it, and of
    /// those how many were acknowledged and resolved by their deadlines and how many are still
    /// open past one.
    public struct Figures: Sendable, Equatable, Codable {
        public var received: Int
        public var acknowledgedOnTime: Int
        public var resolvedOnTime: Int
        public var overdue: Int

        public init(received: Int, acknowledgedOnTime: Int, resolvedOnTime: Int, overdue: Int) {
            self.received = received
            self.acknowledgedOnTime = acknowledgedOnTime
            self.resolvedOnTime = resolvedOnTime
            self.overdue = overdue
        }

        enum CodingKeys: String, CodingKey {
            case received, overdue
            case acknowledgedOnTime = "acknowledged_on_time"
            case resolvedOnTime = "resolved_on_time"
        }
    }

    /// True when `group`'s report of `period` was made.
    public func made(group: String, period: SubscriptionPeriod, logger: Logger) async throws -> Bool {
        var found = false
        for try await _ in try await client.query("""
            SELECT 1 FROM escalated.period_reports
             WHERE group_code = \(group) AND kind = \(period.kind.rawValue) AND period_start = \(period.start.description)::date
            """, logger: logger) {
            found = true
        }
        return found
    }

    /// The figures of `period` now: the totals of ``ReportStore/summary(from:to:scope:slice:detail:logger:)``
    /// (its counts), as a supervisor sees them (everything).
    public func figures(period: SubscriptionPeriod, logger: Logger) async throws -> Figures {
        let summary = try await ReportStore(client: client).summary(
            from: .day(period.start.description), to: .day(period.end.description), scope: Actor(kind: .supervisor, code: nil),
            detail: .counts, logger: logger)
        let total = summary.totals
        return Figures(received: total.received, acknowledgedOnTime: total.acknowledgedOnTime, resolvedOnTime: total.resolvedOnTime, overdue: total.overdue)
    }

    /// Makes `group`'s report of `period` with `figures` and queues one email for each of
    /// `members` (person codes with an email): the period's row and the outbox rows in one
    /// statement. Returns nil, writing nothing, when the period's report was already made.
    public func make(group: String, period: SubscriptionPeriod, figures: Figures, members: [String], logger: Logger) async throws -> Int64? {
        let json = String(decoding: try JSONEncoder().encode(figures), as: UTF8.self)
        let channels = members.map { _ in DeliveryChannel.email.rawValue }
        var made: Int64?
        for try await (id, _) in try await client.query("""
            WITH r AS (
                INSERT INTO escalated.period_reports (group_code, kind, period_start, period_end, figures, created_by)
                VALUES (\(group), \(period.kind.rawValue), \(period.start.description)::date, \(period.end.description)::date,
                        \(json)::jsonb, \(instance))
                ON CONFLICT (group_code, kind, period_start) DO NOTHING
                RETURNING id, group_code, kind, period_start, period_end, figures
            ),
            m AS (SELECT * FROM unnest(\(members)::text[], \(channels)::text[]) AS m(code, ch)),
            o AS (\(unescaped: OutboxSQL.insert("""
                SELECT NULL::int8, NULL::int8, 'report', 'person', m.code,
                       jsonb_build_object('report_id', r.id, 'group', r.group_code, 'period', r.kind,
                                          'from', to_char(r.period_start, 'YYYY-MM-DD'), 'to', to_char(r.period_end, 'YYYY-MM-DD'),
                                          'figures', r.figures), m.ch
                  FROM r, m
                """))),
            wake AS (\(unescaped: OutboxSQL.wakeDeliverers(after: "o")))
            SELECT (SELECT id FROM r), (SELECT count(*) FROM wake)
            """, logger: logger).decode((Int64?, Int64).self) {
            made = id
        }
        return made
    }
}
