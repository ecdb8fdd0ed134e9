import EscalationServer
import EscalationStore
import Foundation
import Logging
import PostgresNIO

/// The escalation scenarios: steps falling due among many open issues, and a burst due at once.
///
/// Open issues are written in bulk as already routed (triggers off for the load only), with their
/// next step a day ahead; then, with the daemon listening, a set of them is made due within the
/// next minute in one transaction that sends the `deadlines` wake-up, as writers do. Lateness is
/// the commit time of each escalation minus its due time (`track_commit_timestamp`), and the
/// escalator's statements are timed by pg_stat_statements.
extension Bench {
    /// Loads `count` open, routed, urgent issues whose next step is a day or more away; every
    /// `step`-th one gets its assignments (the agency and the member), so it can be escalated.
    func loadOpenIssues(count: Int, step: Int) async throws {
        try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            try await client.withConnection { connection in
                try await connection.query("SET session_replication_role = replica", logger: logger)
                var loaded = 0
                while loaded < count {
                    let chunk = min(count - loaded, 200_000)
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        WITH u AS (SELECT array_agg(code ORDER BY code) AS codes FROM escalated.units),
                             s AS (SELECT array_agg(code ORDER BY code) AS codes FROM escalated.sectors)
                        INSERT INTO escalated.issues (unit_code, sector_code, severity, title, state, origin, route_revision, routed_at,
                                                      acknowledge_due_at, resolve_due_at, due_at, chain_code,
                                                      next_escalation_at, next_level, next_repeat, next_level_start)
                        SELECT u.codes[1 + g % array_length(u.codes, 1)], s.codes[1 + g % array_length(s.codes, 1)], 'urgent',
                               'Báo cáo khó khăn số ' || g, 'routed', 'sql', 1, now(), t, t + interval '7 hours', t, 'standard', t, 1, 0, t
                          FROM generate_series(\(loaded + 1), \(loaded + chunk)) g, u, s,
                               LATERAL (SELECT now() + interval '1 day' + (g % 86400) * interval '1 second' AS t) x
                        """), logger: logger)
                    loaded += chunk
                }
                try await connection.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO escalated.assignments (issue_id, target_kind, target_code, role)
                    SELECT i.id, 'agency', s.agency_code, 'agency' FROM escalated.issues i JOIN escalated.sectors s ON s.code = i.sector_code
                     WHERE i.id % \(step) = 0
                    UNION ALL
                    SELECT i.id, 'person', a.member_code, 'member' FROM escalated.issues i
                      JOIN escalated.units u ON u.code = i.unit_code JOIN escalated.areas a ON a.code = u.area_code
                     WHERE i.id % \(step) = 0
                    """), logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: """
                    UPDATE escalated.issues i SET agency_code = s.agency_code, people = ARRAY[a.member_code]
                      FROM escalated.sectors s, escalated.units u JOIN escalated.areas a ON a.code = u.area_code
                     WHERE s.code = i.sector_code AND u.code = i.unit_code AND i.id % \(step) = 0
                    """), logger: logger)
                try await connection.query("RESET session_replication_role", logger: logger)
                try await connection.query("VACUUM ANALYZE escalated.issues", logger: logger)
                try await connection.query("VACUUM ANALYZE escalated.assignments", logger: logger)
            }
        }
    }

    /// Makes every `step`-th issue due at `now() + from + random() * spread` seconds, and wakes escalators.
    func makeDue(step: Int, from: Int, spread: Int) async throws {
        try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(PostgresQuery(unsafeSQL: """
                    WITH r AS (
                        SELECT id, now() + \(from) * interval '1 second' + random() * \(spread) * interval '1 second' AS t
                          FROM escalated.issues WHERE id % \(step) = 0
                    )
                    UPDATE escalated.issues i
                       SET next_escalation_at = r.t, next_level_start = r.t, acknowledge_due_at = r.t, due_at = r.t
                      FROM r WHERE i.id = r.id
                    """), logger: logger)
                try await connection.query(WakeTopic.deadlines.notifyQuery, logger: logger)
            }
        }
    }

    /// Commit time minus due time of every escalation, in ms: p50, p99, max; and the span from
    /// the earliest due time to the last commit, in seconds.
    func escalationLateness() async throws -> (p50: Double, p99: Double, max: Double, span: Double) {
        let sql = """
            WITH l AS (SELECT due_at, pg_xact_commit_timestamp(xmin) AS committed FROM escalated.escalations)
            SELECT (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM committed - due_at)) * 1000)::float8,
                   (percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM committed - due_at)) * 1000)::float8,
                   (max(extract(epoch FROM committed - due_at)) * 1000)::float8,
                   extract(epoch FROM max(committed) - min(due_at))::float8
              FROM l
            """
        return try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var result = (0.0, 0.0, 0.0, 0.0)
            for try await row in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode((Double?, Double?, Double?, Double?).self) {
                result = (row.0 ?? 0, row.1 ?? 0, row.2 ?? 0, row.3 ?? 0)
            }
            return result
        }
    }

    /// Per call of each of the escalator's three statements since the last reset: shared buffers
    /// touched (the work done, free of timing noise) and mean time.
    func escalatorStatements() async throws -> String {
        let sql = """
            SELECT CASE WHEN query LIKE '%min(next_escalation_at)%' THEN 'probe'
                        WHEN query LIKE '%next_escalation_at <= now()%' THEN 'claim'
                        WHEN query LIKE '%INSERT INTO escalated.escalations%' THEN 'record' END AS what,
                   sum(calls)::float8, (sum(shared_blks_hit + shared_blks_read) / sum(calls))::float8,
                   (sum(total_exec_time) / sum(calls))::float8
              FROM pg_stat_statements
             WHERE query LIKE '%min(next_escalation_at)%' OR query LIKE '%next_escalation_at <= now()%'
                OR query LIKE '%INSERT INTO escalated.escalations%'
             GROUP BY 1 ORDER BY 1
            """
        return try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var parts: [String] = []
            var wakeUps = 0.0
            for try await (what, calls, buffers, mean) in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                .decode((String?, Double, Double, Double).self) {
                parts.append(String(format: "%@ %.0f buffers, %.2f ms", what ?? "?", buffers, mean))
                if what == "claim" { wakeUps = calls }
            }
            return parts.joined(separator: "; ") + String(format: " (%.0f wake-ups)", wakeUps)
        }
    }

    // MARK: Due among many open issues

    func escalation(open: Int, due: Int, into report: inout BenchReport) async throws {
        let step = max(1, open / due)
        try await loadOpenIssues(count: open, step: step)
        let daemon = try startDaemon()
        try await daemon.waitForListener(self)
        _ = try await scalar("SELECT 0::float8 FROM (SELECT pg_stat_statements_reset()) r")
        try await makeDue(step: step, from: 5, spread: 60)
        let expected = open / step
        try await waitUntil("SELECT count(*)::float8 FROM escalated.escalations", atLeast: expected, timeout: .seconds(180))
        let l = try await escalationLateness()
        let statements = try await escalatorStatements()
        let rss = daemon.residentMegabytes()
        try await daemon.stop()
        let label = "escalation, \(open.formatted()) open"
        report.add("\(label): steps due within a minute", "\(expected) fired, once each")
        report.add("\(label): due-to-recorded p50", String(format: "%.1f ms", l.p50), "<= 100 ms")
        report.add("\(label): due-to-recorded p99 / max", String(format: "%.1f ms / %.1f ms", l.p99, l.max), "p99 <= 1 s")
        report.add("\(label): per wake-up, buffers touched and mean time", statements)
        report.add("\(label): daemon resident memory", String(format: "%.1f MB", rss))
    }

    // MARK: A burst due at one instant

    func burst(count: Int, into report: inout BenchReport) async throws {
        try await loadOpenIssues(count: count, step: 1)
        let daemon = try startDaemon()
        try await daemon.waitForListener(self)
        try await makeDue(step: 1, from: 3, spread: 0)
        try await waitUntil("SELECT count(*)::float8 FROM escalated.escalations", atLeast: count, timeout: .seconds(300))
        let l = try await escalationLateness()
        try await daemon.stop()
        report.add("burst: \(count.formatted()) steps due at one instant", String(format: "all recorded %.2f s after it (%.0f/s)", l.span, Double(count) / max(l.span, 0.001)), "<= 10 s")
        report.add("burst: due-to-recorded p50 / p99", String(format: "%.0f ms / %.0f ms", l.p50, l.p99))
    }
}
