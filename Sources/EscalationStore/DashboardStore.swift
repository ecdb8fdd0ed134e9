public import EscalationCore
public import Foundation
public import Logging
import PostgresNIO

/// What the dashboards read beside the period's summary (``ReportStore``): where things stand now,
/// the longest overdue, the series over the period, and how long resolving took. Each within the
/// caller's scope (and an area, when one is asked for), each one statement on covering indexes
/// (012 to 015): the open issues come from `issues_open` (a member's also from
/// `issues_open_people`), a period's issues from `issues_created`, its resolutions from
/// `issues_resolved` (an area's, and a member's, from 014's by unit).
public struct DashboardStore: Sendable {
    public let client: Database

    public init(client: Database) {
        self.client = client
    }

    /// Part of a scope: one area, one sector, or both.
    public struct Slice: Sendable, Equatable {
        public var area: String?
        public var sector: String?

        public init(area: String? = nil, sector: String? = nil) {
            self.area = area
            self.sector = sector
        }
    }

    /// Open and overdue now, for one unit, area, agency or sector.
    public struct Standing: Sendable, Equatable {
        public var code: String
        /// Routed, acknowledged, reopened or unroutable: what the open list shows.
        public var open: Int
        /// Of those, past their running deadline (what the list's "overdue" shows).
        public var overdue: Int

        public init(code: String, open: Int, overdue: Int) {
            self.code = code
            self.open = open
            self.overdue = overdue
        }
    }

    public struct Now: Sendable, Equatable {
        public var units: [Standing] = []
        public var areas: [Standing] = []
        public var agencies: [Standing] = []
        public var sectors: [Standing] = []
    }

    /// The open issues condition, as the list's (IssueStore) is.
    static let open = "((i.due_at IS NOT NULL) OR (i.due_at IS NULL AND i.state IN ('routed', 'acknowledged', 'reopened', 'unroutable')))"

    /// The scope and slice as SQL; `sets` as ``ScopeSQL/condition(_:binds:responsible:sets:)``
    /// (for statements that read many issues; not for one that stops at the first few).
    static func restrict(_ scope: Actor, slice: Slice, binds: inout PostgresBindings, sets: Bool = true) -> String {
        var condition = ScopeSQL.condition(scope, binds: &binds, sets: sets)
        if let area = slice.area {
            binds.append(area)
            condition += " AND i.unit_code IN (SELECT code FROM escalated.units WHERE area_code = $\(binds.count))"
        }
        if let sector = slice.sector {
            binds.append(sector)
            condition += " AND i.sector_code = $\(binds.count)"
        }
        return condition
    }

    /// The open issues in the scope and slice: a FROM item (alias `i`) and the condition on it.
    ///
    /// A member's are read in two disjoint parts, each on its own index, instead of through the
    /// scope's `OR` (which reads every open issue of the directory from `issues_open`): those of
    /// their area's units (`issues_open`, by unit), and those assigned to them as a person outside
    /// those units (`issues_open_people`, on the row's persons; usually none, but the index still
    /// hands back their area's issues, which the test on the unit then drops). Open is the state
    /// alone in the second part: a running deadline belongs to an open issue (008's check), and
    /// the index holds the open states only. It sits behind `OFFSET 0` so that a condition on the
    /// deadline is not pushed down to it, where the planner would intersect it with `issues_due`'s
    /// tens of thousands of entries.
    static func openIssues(_ scope: Actor, slice: Slice, binds: inout PostgresBindings) -> (from: String, condition: String) {
        guard scope.kind == .member else {
            return ("escalated.issues i", "\(open) AND \(restrict(scope, slice: slice, binds: &binds))")
        }
        let (member, units, sliced) = memberParts(scope, slice: slice, binds: &binds)
        return ("""
            (SELECT * FROM escalated.issues i WHERE \(open) AND i.unit_code = ANY(\(units)) AND \(sliced)
             UNION ALL
             SELECT * FROM (SELECT * FROM escalated.issues i
                             WHERE i.state IN ('routed', 'acknowledged', 'reopened', 'unroutable') AND i.people @> ARRAY[\(member)::text]
                               AND i.unit_code <> ALL(\(units)) AND \(sliced) OFFSET 0) elsewhere) i
            """, "true")
    }

    /// The issues in the scope and slice, for a statement on a period's reports or resolutions: a
    /// FROM item (alias `i`) and the condition on it.
    ///
    /// A member's are read in two disjoint parts, as ``openIssues(_:slice:binds:)`` reads their open
    /// ones, both by unit on 014's indexes (each unit's range of the period): their area's units,
    /// and the other units where they have been assigned issues as a person (015's
    /// `person_units`; usually none), of which those issues. Through the scope's `OR`, no index by
    /// unit serves, and every statement reads the whole directory's period (for one member of a
    /// national directory, 27,000 entries a month for 800). The caller's conditions on the period
    /// reach both parts when they are values (binds, or uncorrelated subqueries, not a join).
    static func periodIssues(_ scope: Actor, slice: Slice, binds: inout PostgresBindings) -> (from: String, condition: String) {
        guard scope.kind == .member else {
            return ("escalated.issues i", restrict(scope, slice: slice, binds: &binds))
        }
        let (member, units, sliced) = memberParts(scope, slice: slice, binds: &binds)
        let elsewhere = "ARRAY(SELECT DISTINCT p.unit_code FROM escalated.person_units p WHERE p.person_code = \(member) AND p.unit_code <> ALL(\(units)))"
        return ("""
            (SELECT * FROM escalated.issues i WHERE i.unit_code = ANY(\(units)) AND \(sliced)
             UNION ALL
             SELECT * FROM escalated.issues i WHERE i.unit_code = ANY(\(elsewhere)) AND i.people @> ARRAY[\(member)::text] AND \(sliced)) i
            """, "true")
    }

    /// A member's parameter, their area's units as an array, and the slice's condition.
    private static func memberParts(_ scope: Actor, slice: Slice, binds: inout PostgresBindings) -> (member: String, units: String, sliced: String) {
        binds.append(scope.code ?? "")
        let member = "$\(binds.count)"
        return (member, "ARRAY(\(ScopeSQL.memberUnits(member)))", restrict(.admin, slice: slice, binds: &binds))
    }

    /// Open and overdue now per unit, area, agency (the one responsible) and sector.
    public func now(scope: Actor, slice: Slice = Slice(), logger: Logger) async throws -> Now {
        var binds = PostgresBindings()
        let (issues, inScope) = Self.openIssues(scope, slice: slice, binds: &binds)
        // Grouped by unit and by agency and sector pair on the open issues' index alone; the
        // areas, agencies and sectors are summed from those few thousand rows. The units join as a
        // CTE of their own, read once: joined to the table, the planner (which expects 17 unit rows
        // of `g`, not 3,321) probed `units_pkey` once per unit, 10,000 buffers for a national grid.
        let sql = """
            /* dashboard: now */
            WITH au AS MATERIALIZED (SELECT code, area_code FROM escalated.units), g AS (
                SELECT GROUPING(i.unit_code) AS pair, i.unit_code, i.agency_code, i.sector_code,
                       count(*) AS open, count(*) FILTER (WHERE i.due_at < now()) AS overdue
                  FROM \(issues)
                 WHERE \(inScope)
                 GROUP BY GROUPING SETS ((i.unit_code), (i.agency_code, i.sector_code))
            )
            SELECT 'unit', coalesce(unit_code, '-'), open::int8, overdue::int8 FROM g WHERE pair = 0
            UNION ALL
            SELECT 'area', coalesce(u.area_code, '-'), sum(open)::int8, sum(overdue)::int8
              FROM g LEFT JOIN au u ON u.code = g.unit_code WHERE pair = 0 GROUP BY 2
            UNION ALL
            SELECT 'agency', coalesce(agency_code, '-'), sum(open)::int8, sum(overdue)::int8 FROM g WHERE pair = 1 GROUP BY 2
            UNION ALL
            SELECT 'sector', coalesce(sector_code, '-'), sum(open)::int8, sum(overdue)::int8 FROM g WHERE pair = 1 GROUP BY 2
             ORDER BY 1, 2
            """
        var result = Now()
        for try await (dimension, code, open, overdue) in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            .decode((String, String, Int64, Int64).self) {
            let standing = Standing(code: code, open: Int(open), overdue: Int(overdue))
            switch dimension {
            case "unit": result.units.append(standing)
            case "area": result.areas.append(standing)
            case "sector": result.sectors.append(standing)
            default: result.agencies.append(standing)
            }
        }
        return result
    }

    /// An overdue issue, for the "longest overdue" table.
    public struct Overdue: Sendable, Equatable {
        public var id: Int64
        public var title: String
        public var unit: String
        public var sector: String
        public var agency: String?
        public var dueAt: Date
    }

    /// The `limit` open issues whose running deadline passed longest ago.
    public func longestOverdue(scope: Actor, slice: Slice = Slice(), limit: Int = 10, logger: Logger) async throws -> [Overdue] {
        var binds = PostgresBindings()
        let inScope = Self.restrict(scope, slice: slice, binds: &binds, sets: false)
        binds.append(limit)
        let sql = """
            /* dashboard: longest overdue */
            SELECT i.id, i.title, i.unit_code, i.sector_code,
                   i.agency_code,
                   i.due_at
              FROM escalated.issues i
             WHERE i.due_at < now() AND \(inScope)
             ORDER BY i.due_at, i.id LIMIT $\(binds.count)
            """
        var rows: [Overdue] = []
        for try await (id, title, unit, sector, agency, due) in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            .decode((Int64, String, String, String, String?, Date).self) {
            rows.append(Overdue(id: id, title: title, unit: unit, sector: sector, agency: agency, dueAt: due))
        }
        return rows
    }

    /// One step of a series: reports received and issues resolved in `[start, end)`, and the issues
    /// overdue at its end (at `now` for the step under way; nil for steps still to come).
    public struct Point: Sendable, Equatable {
        public var start: Date
        public var end: Date
        public var received: Int
        public var resolved: Int
        public var overdueAtEnd: Int?
    }

    /// What a series counts per step beside the reports received (which the period's summary
    /// counts in its one pass over the period's reports, ``ReportStore/Summary/receivedPerStep``).
    public struct StepCounts: Sendable, Equatable {
        /// Issues resolved in each step.
        public var resolved: [Int]
        /// Issues overdue at each step's end (at now for the step under way; nil for steps still to come).
        public var overdueAtEnd: [Int?]
    }

    /// The series over the steps whose bounds are `edges`: each step's reports received (`received`,
    /// a count per step) with its ``StepCounts``.
    public static func series(edges: [Date], received: [Int], counts: StepCounts) -> [Point] {
        guard edges.count >= 2 else { return [] }
        return (0..<edges.count - 1).map { step in
            Point(start: edges[step], end: edges[step + 1], received: received.indices.contains(step) ? received[step] : 0,
                  resolved: counts.resolved.indices.contains(step) ? counts.resolved[step] : 0,
                  overdueAtEnd: counts.overdueAtEnd.indices.contains(step) ? counts.overdueAtEnd[step] : nil)
        }
    }

    /// Per step of consecutive steps whose bounds are `edges` (ascending, at least two): the issues
    /// resolved in it and those overdue at its end.
    ///
    /// An issue is overdue at an instant when it is not resolved by then and either its
    /// acknowledgement deadline has passed without an acknowledgement, or its resolution deadline
    /// has passed (the deadlines as they stand now, extensions included), which at the present
    /// instant is exactly the open issues whose running deadline has passed. Only the issues open
    /// now or resolved since the first step began can have been overdue in it, and those resolved
    /// since are the ones each step counts as resolved: one statement reads them once for both.
    public func stepCounts(edges: [Date], scope: Actor, slice: Slice = Slice(), logger: Logger) async throws -> StepCounts {
        guard edges.count >= 2, let lo = edges.first, let hi = edges.last else { return StepCounts(resolved: [], overdueAtEnd: []) }
        var resolved = [Int](repeating: 0, count: edges.count - 1)
        // The instants to count at: each step's end, or now for the step under way.
        let now = Date()
        let instants: [(step: Int, at: Date)] = (0..<edges.count - 1).compactMap { step in
            let end = edges[step + 1]
            return end <= now ? (step, end) : (edges[step] <= now ? (step, now) : nil)
        }
        var overdue: [Int: Int] = [:]
        if !instants.isEmpty {
            // Each issue was overdue over at most two spans: from its acknowledgement deadline, when
            // it was missed, to the acknowledgement, the resolution or the resolution deadline,
            // whichever came first; and from its resolution deadline to its resolution. The spans
            // are disjoint, so the issues overdue at t are the spans begun before t less those
            // ended by t: counted per instant here, summed below.
            var spanBinds = PostgresBindings()
            spanBinds.append(lo)
            spanBinds.append(instants.map(\.at))
            spanBinds.append(instants[0].at)
            spanBinds.append(instants[instants.count - 1].at)
            spanBinds.append(edges)
            spanBinds.append(hi)
            let (openInScope, openCondition) = Self.openIssues(scope, slice: slice, binds: &spanBinds)
            let (resolvedInScope, spanScope) = Self.periodIssues(scope, slice: slice, binds: &spanBinds)
            // A boundary's bucket; most lie before the first instant (the open issues overdue for
            // long), and those need no search.
            func bucket(_ value: String) -> String {
                "CASE WHEN \(value) < $3 THEN 0 WHEN \(value) >= $4 THEN \(instants.count) ELSE width_bucket(\(value), $2::timestamptz[]) END"
            }
            // The issues open now (due_at set) and those resolved since the period began, each
            // from its index alone; per issue the bucket of each span's beginning and end (NULL:
            // not counted), counted per combination of the four (a few hundred, most issues alike:
            // overdue since before the period), each bucket summed below; and beside them (a
            // grouping set of its own) the issues resolved in each step (every issue resolved in
            // the period is in one of the two parts: open again, its deadline set, or not).
            let spans = """
                /* dashboard: overdue spans */
                WITH c AS (
                    SELECT i.acknowledge_due_at AS ad, i.acknowledged_at AS a, i.resolve_due_at AS rd, i.resolved_at AS r,
                           least(i.acknowledged_at, i.resolved_at, i.resolve_due_at) AS e
                      FROM \(openInScope)
                     WHERE \(openCondition) AND i.due_at IS NOT NULL
                    UNION ALL
                    SELECT i.acknowledge_due_at, i.acknowledged_at, i.resolve_due_at, i.resolved_at,
                           least(i.acknowledged_at, i.resolved_at, i.resolve_due_at)
                      FROM \(resolvedInScope)
                     WHERE i.resolved_at >= $1 AND i.due_at IS NULL AND \(spanScope)
                ), b AS (
                    SELECT CASE WHEN ad IS NOT NULL AND (a IS NULL OR a > ad) AND (e IS NULL OR e > ad) THEN \(bucket("ad")) END AS s1,
                           CASE WHEN ad IS NOT NULL AND (a IS NULL OR a > ad) AND e > ad THEN \(bucket("(e - interval '1 microsecond')")) END AS e1,
                           CASE WHEN rd IS NOT NULL AND (r IS NULL OR r > rd) THEN \(bucket("rd")) END AS s2,
                           CASE WHEN rd IS NOT NULL AND r > rd THEN \(bucket("(r - interval '1 microsecond')")) END AS e2,
                           CASE WHEN r >= $1 AND r < $6 THEN width_bucket(r, $5::timestamptz[]) END AS rb
                      FROM c
                )
                SELECT GROUPING(rb), s1, e1, s2, e2, rb, count(*)::int8 FROM b GROUP BY GROUPING SETS ((s1, e1, s2, e2), (rb))
                """
            var begun = [Int](repeating: 0, count: instants.count + 1), ended = begun
            for try await (spanSet, s1, e1, s2, e2, step, count) in try await client.query(PostgresQuery(unsafeSQL: spans, binds: spanBinds), logger: logger)
                .decode((Int, Int?, Int?, Int?, Int?, Int?, Int64).self) {
                guard spanSet == 1 else {
                    if let step, resolved.indices.contains(step - 1) { resolved[step - 1] += Int(count) }
                    continue
                }
                for (bucket, into) in [(s1, true), (e1, false), (s2, true), (e2, false)] {
                    guard let bucket, begun.indices.contains(bucket) else { continue }
                    if into { begun[bucket] += Int(count) } else { ended[bucket] += Int(count) }
                }
            }
            // width_bucket is k when instant k <= value < instant k+1: a span begun before instant k
            // (1-based) has a bucket below k, and one ended by it (its end less a microsecond before it) too.
            var running = 0
            for (k, instant) in instants.enumerated() {
                running += begun[k] - ended[k]
                overdue[instant.step] = running
            }
        }
        return StepCounts(resolved: resolved, overdueAtEnd: (0..<edges.count - 1).map { overdue[$0] })
    }
}
