public import EscalationCore
public import Foundation
public import Logging
import PostgresNIO

/// The summary report: per unit, area, agency and sector, what was received in a window and how
/// fast it was handled. One statement (GROUPING SETS), within the caller's scope. The dashboards
/// and the periodic reports read their period tables from here, so they equal the API's answer.
public struct ReportStore: Sendable {
    public let client: Database

    public init(client: Database) {
        self.client = client
    }

    /// A window's bound: an instant, or a calendar day in the default calendar's time zone.
    public enum Bound: Sendable, Equatable {
        case instant(Date)
        /// `yyyy-MM-dd`; as `from` its start, as `to` the start of the next day (the day is included).
        case day(String)
    }

    public struct Times: Sendable, Equatable, Codable {
        /// Seconds from the report; nil when nothing was acknowledged or resolved.
        public var median: Double?
        public var p90: Double?

        public init(median: Double?, p90: Double?) {
            self.median = median
            self.p90 = p90
        }
    }

    public struct Row: Sendable, Equatable, Codable {
        public var code: String
        /// Reports received in the window.
        public var received: Int
        /// Of those, acknowledged by their acknowledgement deadline.
        public var acknowledgedOnTime: Int
        /// Of those, resolved by their resolution deadline.
        public var resolvedOnTime: Int
        /// Of those, still open with their running deadline passed.
        public var overdue: Int
        public var acknowledgeSeconds: Times
        public var resolveSeconds: Times
        /// The same, in counted time (the sector's working calendar; every hour when urgent).
        public var acknowledgeWorkingSeconds: Times
        public var resolveWorkingSeconds: Times

        public init(code: String, received: Int, acknowledgedOnTime: Int, resolvedOnTime: Int, overdue: Int, acknowledgeSeconds: Times,
                    resolveSeconds: Times, acknowledgeWorkingSeconds: Times, resolveWorkingSeconds: Times) {
            self.code = code
            self.received = received
            self.acknowledgedOnTime = acknowledgedOnTime
            self.resolvedOnTime = resolvedOnTime
            self.overdue = overdue
            self.acknowledgeSeconds = acknowledgeSeconds
            self.resolveSeconds = resolveSeconds
            self.acknowledgeWorkingSeconds = acknowledgeWorkingSeconds
            self.resolveWorkingSeconds = resolveWorkingSeconds
        }

        enum CodingKeys: String, CodingKey {
            case code, received, overdue
            case acknowledgedOnTime = "acknowledged_on_time"
            case resolvedOnTime = "resolved_on_time"
            case acknowledgeSeconds = "acknowledge_seconds"
            case resolveSeconds = "resolve_seconds"
            case acknowledgeWorkingSeconds = "acknowledge_working_seconds"
            case resolveWorkingSeconds = "resolve_working_seconds"
        }
    }

    public struct Summary: Sendable, Equatable, Codable {
        public var from: Date
        public var to: Date
        public var units: [Row]
        public var areas: [Row]
        public var agencies: [Row]
        public var sectors: [Row]
    }

    /// The default calendar's time zone (UTC without one), as the CTE `tz`.
    static let zone = """
        tz AS (SELECT coalesce((SELECT c.time_zone FROM escalated.calendars c JOIN escalated.directory_meta m ON c.code = m.default_calendar),
                               'UTC') AS zone)
        """

    /// The summary of the reports received from `from` to `to` within `scope`, and within `slice`
    /// (an area, a sector) when one is given.
    public func summary(from: Bound, to: Bound, scope: Actor, slice: DashboardStore.Slice = .init(), logger: Logger) async throws -> Summary {
        var binds = PostgresBindings()
        func bound(_ value: Bound, end: Bool) -> String {
            switch value {
            case .instant(let date):
                binds.append(date)
                return "$\(binds.count)::timestamptz"
            case .day(let day):
                binds.append(day)
                return "((($\(binds.count)::date + \(end ? 1 : 0))::timestamp) AT TIME ZONE (SELECT zone FROM tz))"
            }
        }
        let fromSQL = bound(from, end: false)
        let toSQL = bound(to, end: true)
        let inScope = DashboardStore.restrict(scope, slice: slice, binds: &binds)
        let sql = """
            WITH \(Self.zone), w AS (
                SELECT \(fromSQL) AS lo, \(toSQL) AS hi
            ), picked AS (
                SELECT i.unit_code, u.area_code, i.sector_code,
                       (SELECT a.target_code FROM escalated.assignments a
                         WHERE a.issue_id = i.id AND a.target_kind = 'agency' AND a.role = 'agency' ORDER BY a.assigned_at DESC LIMIT 1) AS agency,
                       i.acknowledged_at IS NOT NULL AND i.acknowledged_at <= i.acknowledge_due_at AS ack_on_time,
                       i.resolved_at IS NOT NULL AND i.resolved_at <= i.resolve_due_at AS resolve_on_time,
                       i.state IN ('routed', 'acknowledged', 'reopened') AND i.due_at < now() AS overdue,
                       extract(epoch FROM i.acknowledged_at - i.created_at)::float8 AS ack_s,
                       extract(epoch FROM i.resolved_at - i.created_at)::float8 AS resolve_s,
                       i.acknowledge_work_seconds::float8 AS ack_w, i.resolve_work_seconds::float8 AS resolve_w
                  FROM escalated.issues i LEFT JOIN escalated.units u ON u.code = i.unit_code, w
                 WHERE i.created_at >= w.lo AND i.created_at < w.hi AND \(inScope)
            )
            SELECT CASE WHEN GROUPING(unit_code) = 0 THEN 'unit' WHEN GROUPING(area_code) = 0 THEN 'area'
                        WHEN GROUPING(sector_code) = 0 THEN 'sector' ELSE 'agency' END,
                   coalesce(CASE WHEN GROUPING(unit_code) = 0 THEN unit_code WHEN GROUPING(area_code) = 0 THEN area_code
                                 WHEN GROUPING(sector_code) = 0 THEN sector_code ELSE agency END, '-'),
                   count(*)::int8, count(*) FILTER (WHERE ack_on_time)::int8, count(*) FILTER (WHERE resolve_on_time)::int8,
                   count(*) FILTER (WHERE overdue)::int8,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s), percentile_cont(0.9) WITHIN GROUP (ORDER BY ack_s),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_s), percentile_cont(0.9) WITHIN GROUP (ORDER BY resolve_s),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_w), percentile_cont(0.9) WITHIN GROUP (ORDER BY ack_w),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_w), percentile_cont(0.9) WITHIN GROUP (ORDER BY resolve_w),
                   (SELECT lo FROM w), (SELECT hi FROM w)
              FROM picked
             GROUP BY GROUPING SETS ((unit_code), (area_code), (agency), (sector_code))
             ORDER BY 1, 2
            """
        var summary: Summary?
        var units: [Row] = [], areas: [Row] = [], agencies: [Row] = [], sectors: [Row] = []
        for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) {
            let (dimension, code, received, ack, resolved, overdue, ackMedian, ackP90, resolveMedian, resolveP90,
                 ackWorkMedian, ackWorkP90, resolveWorkMedian, resolveWorkP90, lo, hi) =
                try row.decode((String, String, Int64, Int64, Int64, Int64, Double?, Double?, Double?, Double?,
                                Double?, Double?, Double?, Double?, Date, Date).self)
            let line = Row(code: code, received: Int(received), acknowledgedOnTime: Int(ack), resolvedOnTime: Int(resolved), overdue: Int(overdue),
                           acknowledgeSeconds: Times(median: ackMedian, p90: ackP90), resolveSeconds: Times(median: resolveMedian, p90: resolveP90),
                           acknowledgeWorkingSeconds: Times(median: ackWorkMedian, p90: ackWorkP90),
                           resolveWorkingSeconds: Times(median: resolveWorkMedian, p90: resolveWorkP90))
            switch dimension {
            case "unit": units.append(line)
            case "area": areas.append(line)
            case "sector": sectors.append(line)
            default: agencies.append(line)
            }
            summary = Summary(from: lo, to: hi, units: [], areas: [], agencies: [], sectors: [])
        }
        if summary == nil {
            // Nothing received: still say which window was read.
            let window = try await client.query(PostgresQuery(unsafeSQL: """
                WITH \(Self.zone) SELECT \(fromSQL), \(toSQL)
                """, binds: binds), logger: logger).decode((Date, Date).self)
            for try await (lo, hi) in window { summary = Summary(from: lo, to: hi, units: [], areas: [], agencies: [], sectors: []) }
        }
        guard var result = summary else { throw DirectoryJSON.Corrupt(description: "the summary window could not be read") }
        result.units = units
        result.areas = areas
        result.agencies = agencies
        result.sectors = sectors
        return result
    }
}
