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

        /// The row's four counts.
        public var counts: Summary.Totals {
            Summary.Totals(received: received, acknowledgedOnTime: acknowledgedOnTime, resolvedOnTime: resolvedOnTime, overdue: overdue)
        }
    }

    public struct Summary: Sendable, Equatable, Codable {
        public var from: Date
        public var to: Date
        public var units: [Row]
        public var areas: [Row]
        public var agencies: [Row]
        public var sectors: [Row]
        /// With ``Detail/dashboard``, every counted time to resolve in the window and scope, in no
        /// order (the resolution-time chart is counted from it); empty otherwise, and not encoded.
        public var resolveWorkingTimes: [Int] = []
        /// With `steps`, the reports received in each step (`steps.count - 1` counts; the series
        /// of a dashboard); empty otherwise, and not encoded.
        public var receivedPerStep: [Int] = []

        public init(from: Date, to: Date, units: [Row], areas: [Row], agencies: [Row], sectors: [Row]) {
            self.from = from
            self.to = to
            self.units = units
            self.areas = areas
            self.agencies = agencies
            self.sectors = sectors
        }

        enum CodingKeys: String, CodingKey {
            case from, to, units, areas, agencies, sectors
        }

        /// The window's reports in all, from the agencies' rows: every report is in exactly one
        /// (`-` when it has no agency), whatever the detail asked for.
        public var totals: Totals {
            agencies.reduce(into: Totals()) { $0.add($1.counts) }
        }

        /// The counts of a row, or of several summed.
        public struct Totals: Sendable, Equatable {
            public var received = 0, acknowledgedOnTime = 0, resolvedOnTime = 0, overdue = 0

            mutating func add(_ other: Totals) {
                received += other.received
                acknowledgedOnTime += other.acknowledgedOnTime
                resolvedOnTime += other.resolvedOnTime
                overdue += other.overdue
            }
        }

        /// How many of ``resolveWorkingTimes`` lie in each bucket of `edges` (ascending, seconds), as
        /// `width_bucket` counts them: `edges.count + 1` counts, the first below `edges[0]`, the last
        /// at or above the last edge.
        public func resolveWorkingCounts(edges: [Int]) -> [Int] {
            var counts = [Int](repeating: 0, count: edges.count + 1)
            for value in resolveWorkingTimes {
                counts[edges.firstIndex { $0 > value } ?? edges.count] += 1
            }
            return counts
        }
    }

    /// The default calendar's time zone (UTC without one), as the CTE `tz`.
    static let zone = """
        tz AS (SELECT coalesce((SELECT c.time_zone FROM escalated.calendars c JOIN escalated.directory_meta m ON c.code = m.default_calendar),
                               'UTC') AS zone)
        """

    /// How much of a summary to compute: the times are sorts, the dearest part, and a dashboard
    /// reads its units and areas from where things stand now (``DashboardStore/now(scope:slice:logger:)``).
    public enum Detail: Sendable, Equatable {
        /// Every dimension, with its counts and times (the API).
        case full
        /// The agencies and sectors, with their counts and working times (what a dashboard shows).
        case dashboard
        /// The agencies and sectors, with their counts (the period a dashboard compares with, the
        /// report emails' figures).
        case counts
    }

    /// The summary of the reports received from `from` to `to` within `scope`, and within `slice`
    /// (an area, a sector) when one is given; with the times `detail` asks for (nil elsewhere).
    ///
    /// With `steps` (ascending bounds, at least two; ignored by ``Detail/full``), also the reports
    /// received in each step, counted in the same pass (``Summary/receivedPerStep``): a dashboard's
    /// series over its period, whose steps are the period's days or weeks, without reading the
    /// period's reports a second time. A report outside the steps counts in none.
    public func summary(from: Bound, to: Bound, scope: Actor, slice: DashboardStore.Slice = .init(), detail: Detail = .full,
                        steps: [Date] = [], logger: Logger) async throws -> Summary {
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
        let stepSQL: String
        if steps.count >= 2, detail != .full {
            binds.append(steps)
            stepSQL = "width_bucket(i.created_at, $\(binds.count)::timestamptz[])"
        } else {
            stepSQL = "0"
        }
        let (issues, inScope) = DashboardStore.periodIssues(scope, slice: slice, binds: &binds)
        let picked = """
            picked AS (
                SELECT i.unit_code, \(detail == .full ? "u.area_code" : "NULL::text AS area_code"), i.sector_code, i.agency_code AS agency,
                       i.acknowledged_at IS NOT NULL AND i.acknowledged_at <= i.acknowledge_due_at AS ack_on_time,
                       i.resolved_at IS NOT NULL AND i.resolved_at <= i.resolve_due_at AS resolve_on_time,
                       i.state IN ('routed', 'acknowledged', 'reopened') AND i.due_at < now() AS overdue,
                       extract(epoch FROM i.acknowledged_at - i.created_at)::float8 AS ack_s,
                       extract(epoch FROM i.resolved_at - i.created_at)::float8 AS resolve_s,
                       i.acknowledge_work_seconds::float8 AS ack_w, i.resolve_work_seconds::float8 AS resolve_w,
                       \(stepSQL) AS step
                  FROM \(issues) \(detail == .full ? "LEFT JOIN escalated.units u ON u.code = i.unit_code" : "")
                 WHERE i.created_at >= (SELECT lo FROM w) AND i.created_at < (SELECT hi FROM w) AND \(inScope)
            )
            """
        let counts = """
            count(*)::int8, count(*) FILTER (WHERE ack_on_time)::int8, count(*) FILTER (WHERE resolve_on_time)::int8,
            count(*) FILTER (WHERE overdue)::int8
            """
        let window = "(SELECT lo FROM w), (SELECT hi FROM w)"
        func times(_ columns: [String]) -> String {
            columns.map { "percentile_cont(0.5) WITHIN GROUP (ORDER BY \($0)), percentile_cont(0.9) WITHIN GROUP (ORDER BY \($0))" }.joined(separator: ", ")
        }
        let grouped: String
        switch detail {
        case .full:
            grouped = """
                SELECT CASE WHEN GROUPING(unit_code) = 0 THEN 'unit' WHEN GROUPING(area_code) = 0 THEN 'area'
                            WHEN GROUPING(sector_code) = 0 THEN 'sector' ELSE 'agency' END,
                       coalesce(CASE WHEN GROUPING(unit_code) = 0 THEN unit_code WHEN GROUPING(area_code) = 0 THEN area_code
                                     WHEN GROUPING(sector_code) = 0 THEN sector_code ELSE agency END, '-'),
                       \(counts), \(times(["ack_s", "resolve_s", "ack_w", "resolve_w"])), \(window)
                  FROM picked
                 GROUP BY GROUPING SETS ((unit_code), (area_code), (agency), (sector_code))
                """
        case .dashboard, .counts:
            // Per agency and sector pair (a few dozen rows; per step too, with steps), with the
            // pair's working times for a dashboard; the agencies' and sectors' rows are summed
            // from the pairs below, their percentiles computed as percentile_cont does (one sort
            // per row instead of four per row in the statement: a month of a national directory
            // has tens of thousands).
            let times = detail == .dashboard
                ? "array_agg(ack_w::int8) FILTER (WHERE ack_w IS NOT NULL), array_agg(resolve_w::int8) FILTER (WHERE resolve_w IS NOT NULL)"
                : "NULL::int8[], NULL::int8[]"
            grouped = """
                SELECT coalesce(agency, '-'), coalesce(sector_code, '-'), \(counts), \(times), \(window), step
                  FROM picked GROUP BY 1, 2, step
                """
        }
        let sql = """
            /* summary: \(detail) */
            WITH \(Self.zone), w AS (
                SELECT \(fromSQL) AS lo, \(toSQL) AS hi
            ), \(picked)
            \(grouped)
             ORDER BY 1, 2
            """
        var summary: Summary?
        var units: [Row] = [], areas: [Row] = [], agencies: [Row] = [], sectors: [Row] = [], resolveTimes: [Int] = []
        var perStep = [Int](repeating: 0, count: detail == .full ? 0 : max(0, steps.count - 1))
        if detail != .full {
            var byAgency: [String: Pair] = [:], bySector: [String: Pair] = [:]
            for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) {
                let (agency, sector, received, ack, resolved, overdue, ackTimes, resolveTimes, lo, hi, step) =
                    try row.decode((String, String, Int64, Int64, Int64, Int64, [Int]?, [Int]?, Date, Date, Int).self)
                if perStep.indices.contains(step - 1) { perStep[step - 1] += Int(received) }
                let pair = Pair(counts: Summary.Totals(received: Int(received), acknowledgedOnTime: Int(ack), resolvedOnTime: Int(resolved), overdue: Int(overdue)),
                                acknowledgeTimes: ackTimes ?? [], resolveTimes: resolveTimes ?? [])
                byAgency[agency, default: Pair()].add(pair)
                bySector[sector, default: Pair()].add(pair)
                summary = Summary(from: lo, to: hi, units: [], areas: [], agencies: [], sectors: [])
            }
            agencies = byAgency.keys.sorted().map { byAgency[$0]!.row(code: $0, times: detail == .dashboard) }
            sectors = bySector.keys.sorted().map { bySector[$0]!.row(code: $0, times: detail == .dashboard) }
            if detail == .dashboard { resolveTimes = byAgency.values.flatMap(\.resolveTimes) }
        } else {
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
        result.resolveWorkingTimes = resolveTimes
        result.receivedPerStep = perStep
        return result
    }

    /// What one agency and sector pair adds to its agency's and its sector's rows.
    struct Pair {
        var counts = Summary.Totals()
        var acknowledgeTimes: [Int] = [], resolveTimes: [Int] = []

        mutating func add(_ other: Pair) {
            counts.add(other.counts)
            acknowledgeTimes += other.acknowledgeTimes
            resolveTimes += other.resolveTimes
        }

        func row(code: String, times: Bool) -> Row {
            func working(_ values: [Int]) -> Times {
                guard times else { return Times(median: nil, p90: nil) }
                let sorted = values.sorted().map(Double.init)
                return Times(median: ReportStore.percentile(sorted, 0.5), p90: ReportStore.percentile(sorted, 0.9))
            }
            return Row(code: code, received: counts.received, acknowledgedOnTime: counts.acknowledgedOnTime, resolvedOnTime: counts.resolvedOnTime,
                       overdue: counts.overdue,
                       acknowledgeSeconds: Times(median: nil, p90: nil), resolveSeconds: Times(median: nil, p90: nil),
                       acknowledgeWorkingSeconds: working(acknowledgeTimes), resolveWorkingSeconds: working(resolveTimes))
        }
    }

    /// PostgreSQL's `percentile_cont(p)` of ascending `sorted`: the value at rank p·(n−1), linearly
    /// interpolated between the two nearest ranks (`lo + (hi − lo) × fraction`, as float8_lerp);
    /// nil when there is none.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let position = p * Double(sorted.count - 1)
        let first = position.rounded(.down), second = position.rounded(.up)
        let lo = sorted[Int(first)]
        guard second != first else { return lo }
        let hi = sorted[Int(second)]
        return lo + (hi - lo) * (position - first)
    }
}
