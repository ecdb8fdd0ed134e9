import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Logging
import PostgresCluster
import PostgresNIO

/// The dashboards at national scale (`dashboard`): a generated directory of 3,321 units in 34
/// areas (Vietnam's commune-level units since 1 July 2025) imported and timed; routing a backlog
/// with it, beside the same backlog on the 48-unit sample directory; then `issues` issues over
/// three years with ten events each, seeded in bulk by SQL, and the overview of the whole
/// directory and of one area read through the web app: the server's own time (its
/// `Server-Timing` header) and the client's, on loopback.
extension Bench {
    /// The sample directory with its people in charge, areas and units replaced by `units` units in
    /// `areas` areas (names like `Xã mẫu 0001`); agencies, sectors, calendars, chains and groups kept,
    /// rules that name an area dropped.
    static func nationalDirectory(units: Int = 3321, areas: Int = 34) throws -> Directory {
        var directory = try SampleDirectory.load()
        let members = Set(directory.areas.map(\.member))
        directory.people = directory.people.filter { !members.contains($0.code) }
        directory.rules = directory.rules.filter { $0.match.area == nil }
        directory.areas = []
        directory.units = []
        for a in 1...areas {
            let code = String(format: "m-area-%02d", a)
            directory.people.append(Person(code: code, name: String(format: "Ủy viên phụ trách địa bàn %02d (mẫu)", a), email: "\(code)@example.org"))
            directory.areas.append(Area(code: String(format: "area-%02d", a), name: String(format: "Địa bàn %02d", a), member: code))
        }
        for u in 1...units {
            let area = String(format: "area-%02d", (u - 1) % areas + 1)
            directory.units.append(EscalationCore.Unit(code: String(format: "u%04d", u), name: String(format: u % 5 == 0 ? "Phường mẫu %04d" : "Xã mẫu %04d", u),
                                                       kind: u % 5 == 0 ? .ward : .commune, area: area))
        }
        directory.name = "Việt Nam (danh mục mẫu 3.321 đơn vị)"
        return directory
    }

    func dashboard(issues total: Int, backlog: Int, sample: Bench, into report: inout BenchReport) async throws {
        let directory = try Self.nationalDirectory()
        let imported = try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            let started = ContinuousClock.now
            _ = try await DirectoryStore(client: client).importDirectory(directory, logger: logger)
            return ContinuousClock.now - started
        }
        report.add("dashboard: import of \(directory.units.count) units in \(directory.areas.count) areas", "\(imported.milliseconds) ms", "<= 5 s")

        // Routing with the national directory and with the sample's 48 units (a database made beside
        // it), alternated three times.
        var national: [Double] = [], small: [Double] = []
        for _ in 0..<3 {
            small.append(try await sample.routedRate(backlog))
            national.append(try await routedRate(backlog))
        }
        report.add("dashboard: routing \(backlog) reports, 48 units / 3,321 units, three alternated runs",
                   "\(small.map(\.formatted0).joined(separator: ", ")) / \(national.map(\.formatted0).joined(separator: ", ")) issues/s")
        report.add("dashboard: routing rate 3,321 units ÷ 48 units (medians)",
                   String(format: "%.2f", national.sorted()[1] / max(small.sorted()[1], 1)), "within noise of 1")

        let seedStarted = ContinuousClock.now
        let seeded = try await seedHistory(total: total)
        report.add("dashboard: seed (SQL, triggers off)", String(format: "%d issues over 3 years, %d open, %d events, in %.0f s",
                                                                   seeded.issues, seeded.open, seeded.events, (ContinuousClock.now - seedStarted).doubleMilliseconds / 1000))
        try await makeAccounts([("bench-supervisor@example.org", Actor(kind: .supervisor, code: "vp-tinh-uy")),
                                ("bench-member@example.org", Actor(kind: .member, code: "m-area-07"))], cost: 4)

        let port = try PostgresCluster.freeLoopbackPort()
        let daemon = try startDaemon(environment: ["ESCALATED_HTTP": "127.0.0.1:\(port)"])
        try await daemon.waitForListener(self)
        let kinds: [(label: String, path: String, member: Bool)] = [
            ("overview, whole directory, last month", "/dashboard?period=last-month", false),
            ("overview, whole directory, last week", "/dashboard?period=last-week", false),
            ("overview, one area (supervisor), last month", "/dashboard?period=last-month&area=area-07", false),
            ("overview, the member's area, last month", "/dashboard?period=last-month", true),
            ("overview, whole directory, 366 days", "/dashboard?period=custom&from=\(Self.daysAgo(365))&to=\(Self.daysAgo(0))", false),
        ]
        let rounds = 60
        let (measured, statements) = try await WebClient.with(port: port, connections: 2) { web in
            try await web.waitUntilServing()
            let supervisor = try await web.signIn(email: "bench-supervisor@example.org", password: Self.webPassword).session
            let member = try await web.signIn(email: "bench-member@example.org", password: Self.webPassword).session
            var out: [[(server: Double, database: Double, client: Double, bytes: Int)]] = Array(repeating: [], count: kinds.count)
            var statements = [String](repeating: "", count: kinds.count)
            for (index, kind) in kinds.enumerated() {
                let session = kind.member ? member : supervisor
                for _ in 0..<5 { _ = try await web.page(kind.path, session: session) }
                _ = try await scalar("SELECT 0::float8 FROM (SELECT pg_stat_statements_reset()) r")
                for _ in 0..<(index == kinds.count - 1 ? 10 : rounds) {
                    let page = try await web.page(kind.path, session: session)
                    guard page.status == 200 else { throw BenchError("dashboard: \(kind.path) answered \(page.status)") }
                    out[index].append((page.serverMilliseconds ?? .nan, page.serverTiming("db") ?? .nan, page.ms, page.body.readableBytes))
                }
                statements[index] = try await taggedStatements()
            }
            return (out, statements)
        }
        let rss = daemon.residentMegabytes()
        try await daemon.stop()
        // ESCALATED_BENCH_HOLD=FILE: the database stays up, its URL in FILE, until FILE is removed
        // (to EXPLAIN the pages' statements in psql on the national history).
        if let hold = ProcessInfo.processInfo.environment["ESCALATED_BENCH_HOLD"] {
            _ = FileManager.default.createFile(atPath: hold, contents: Data("\(settings)".utf8))
            while FileManager.default.fileExists(atPath: hold) { try await Task.sleep(for: .seconds(2)) }
        }
        report.add("dashboard: requests", "one client, \(rounds) of each page after 5 warm-up (10 of the 366-day one); server time from Server-Timing (total: the database reads and rendering; db: the reads), client time on loopback")
        for (index, kind) in kinds.enumerated() {
            let server = measured[index].map(\.server).sorted(), client = measured[index].map(\.client).sorted()
            let database = measured[index].map(\.database).sorted()
            let target = index == 0 ? "p99 <= 150 ms" : (index == 2 || index == 3) ? "p99 <= 50 ms" : ""
            report.add("dashboard: \(kind.label), server p50 / p99", String(format: "%.1f / %.1f ms (database reads p50 %.1f; client %.1f / %.1f ms; %d KB)",
                                                                          percentile(server, 0.5), percentile(server, 0.99), percentile(database, 0.5),
                                                                          percentile(client, 0.5), percentile(client, 0.99), (measured[index].first?.bytes ?? 0) / 1024), target)
            report.add("dashboard: \(kind.label), its statements", statements[index])
        }
        report.add("dashboard: daemon resident memory after", String(format: "%.1f MB", rss))
    }

    /// The statements tagged with a leading comment (`/* dashboard: now */`) since the last reset,
    /// dearest first: each one's mean time in the server and the buffers it touched per call.
    func taggedStatements() async throws -> String {
        try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var parts: [String] = []
            for try await (tag, mean, buffers) in try await client.query(PostgresQuery(unsafeSQL: """
                SELECT substring(query from '/\\* ([^*]+) \\*/'), (sum(total_exec_time) / sum(calls))::float8,
                       (sum(shared_blks_hit + shared_blks_read)::float8 / sum(calls))::float8
                  FROM pg_stat_statements WHERE query ~ '^\\s*/\\* ' GROUP BY 1 ORDER BY 2 DESC
                """), logger: logger).decode((String, Double, Double).self) {
                parts.append(String(format: "%@ %.1f ms (%.0f buffers)", tag, mean, buffers))
            }
            return parts.joined(separator: ", ")
        }
    }

    static func daysAgo(_ days: Int) -> String {
        let date = Date().addingTimeInterval(-Double(days) * 86_400)
        return date.formatted(.iso8601.year().month().day())
    }

    /// Routes `count` reports from the current directory's units and returns the rate (first to
    /// last commit), then deletes them.
    func routedRate(_ count: Int) async throws -> Double {
        let after = try await maxID()
        _ = try await scalar("""
            WITH u AS (SELECT array_agg(code ORDER BY code) AS codes FROM escalated.units),
                 s AS (SELECT array_agg(code ORDER BY code) AS codes FROM escalated.sectors),
                 ins AS (
                    INSERT INTO escalated.issues (unit_code, sector_code, severity, title)
                    SELECT u.codes[1 + ((g::bigint * 7919) % array_length(u.codes, 1))::int], s.codes[1 + g % array_length(s.codes, 1)],
                           CASE WHEN g % 10 = 0 THEN 'urgent' ELSE 'normal' END, 'Báo cáo khó khăn số ' || g
                      FROM generate_series(1, \(count)) g, u, s
                    RETURNING 1)
            SELECT count(*)::float8 FROM ins
            """)
        _ = try await scalar("SELECT 0::float8 FROM (SELECT 1) x")
        let daemon = try startDaemon()
        try await waitUntilRouted(Int(after) + count, timeout: .seconds(600))
        try await daemon.stop()
        let span = try await scalar("""
            SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin)) - min(pg_xact_commit_timestamp(xmin)))::float8
              FROM escalated.events WHERE kind = 'routed' AND issue_id > \(after)
            """)
        let batches = try await scalar("SELECT count(DISTINCT xmin::text)::float8 FROM escalated.events WHERE kind = 'routed' AND issue_id > \(after)")
        let perBatch = batches > 1 ? span / (batches - 1) : span
        for table in ["events", "assignments", "outbox"] {
            _ = try await scalar("WITH d AS (DELETE FROM escalated.\(table) WHERE issue_id > \(after) RETURNING 1) SELECT count(*)::float8 FROM d")
        }
        _ = try await scalar("WITH d AS (DELETE FROM escalated.issues WHERE id > \(after) RETURNING 1) SELECT count(*)::float8 FROM d")
        return Double(count) / max(span + perBatch, 0.001)
    }

    /// `total` issues, one every 95 seconds back from now (three years for a million), with their
    /// agency and member assignments and ten events each; about 2% open, a third of those overdue.
    func seedHistory(total: Int) async throws -> (issues: Int, open: Int, events: Int) {
        let sectors = Int(try await scalar("SELECT count(*)::float8 FROM escalated.sectors"))
        try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            try await client.withConnection { connection in
                try await connection.query("SET session_replication_role = replica", logger: logger)
                var loaded = 0
                while loaded < total {
                    let chunk = min(total - loaded, 100_000)
                    var after: Int64 = 0
                    for try await id in try await connection.query("SELECT coalesce(max(id), 0) FROM escalated.issues", logger: logger).decode(Int64.self) { after = id }
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        WITH u AS (SELECT array_agg(u.code ORDER BY u.code) AS codes, array_agg(a.member_code ORDER BY u.code) AS members
                                     FROM escalated.units u JOIN escalated.areas a ON a.code = u.area_code),
                             s AS (SELECT array_agg(code ORDER BY code) AS codes, array_agg(agency_code ORDER BY code) AS agencies FROM escalated.sectors)
                        INSERT INTO escalated.issues (unit_code, people, sector_code, agency_code, severity, title, origin, state, version, route_revision,
                                                      created_at, routed_at, updated_at, acknowledge_due_at, resolve_due_at, due_at,
                                                      acknowledged_at, resolved_at, acknowledge_work_seconds, resolve_work_seconds, escalation_level)
                        SELECT u.codes[x.unit], array_remove(ARRAY[u.members[x.unit]], NULL), s.codes[1 + g % \(sectors)], s.agencies[1 + g % \(sectors)],
                               CASE WHEN g % 10 = 0 THEN 'urgent' ELSE 'normal' END,
                               'Báo cáo khó khăn số ' || g, 'sql', y.st, 3, 1,
                               x.c, x.c + interval '1 second', x.c + interval '1 day',
                               x.c + interval '8 hours', x.c + interval '5 days',
                               CASE y.st WHEN 'routed' THEN x.c + interval '8 hours' WHEN 'acknowledged' THEN x.c + interval '5 days' END,
                               CASE WHEN y.st <> 'routed' THEN x.c + x.ack END,
                               CASE WHEN y.st IN ('resolved', 'closed') THEN x.c + x.ack + x.res END,
                               CASE WHEN y.st <> 'routed' THEN (extract(epoch FROM x.ack) / 3)::int END,
                               CASE WHEN y.st IN ('resolved', 'closed') THEN (extract(epoch FROM x.ack + x.res) / 3)::int END,
                               0
                          FROM generate_series(\(loaded + 1), \(loaded + chunk)) g, u, s,
                               LATERAL (SELECT 1 + ((g::bigint * 7919) % array_length(u.codes, 1))::int AS unit,
                                               now() - (\(total) - g) * interval '95 seconds' AS c,
                                               ((g::bigint * 48271) % 86400) * interval '1 second' AS ack,
                                               ((g::bigint * 16807) % 864000) * interval '1 second' AS res) x,
                               LATERAL (SELECT CASE WHEN x.c + x.ack > now() OR g % 50 = 0 THEN 'routed'
                                                    WHEN x.c + x.ack + x.res > now() OR g % 50 = 1 THEN 'acknowledged'
                                                    WHEN g % 10 < 7 THEN 'closed' ELSE 'resolved' END AS st) y
                        """), logger: logger)
                    try await Self.seedAssignments(after: after, connection: connection, logger: logger)
                    // Ten events an issue: reported, routed, and eight more (acknowledged, resolved and
                    // closed where they happened, comments for the rest).
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        INSERT INTO escalated.events (issue_id, kind, actor, data, at)
                        SELECT i.id, k.kind, k.actor, '{}'::jsonb, k.at
                          FROM escalated.issues i,
                               LATERAL (VALUES ('reported', 'sql', i.created_at), ('routed', 'router', i.routed_at)) k(kind, actor, at)
                         WHERE i.id > \(after)
                        UNION ALL
                        SELECT i.id, CASE WHEN n = 1 AND i.acknowledged_at IS NOT NULL THEN 'acknowledged'
                                          WHEN n = 2 AND i.resolved_at IS NOT NULL THEN 'resolved'
                                          WHEN n = 3 AND i.state = 'closed' THEN 'closed' ELSE 'commented' END,
                               'agency:bench', '{"text": "Đang xử lý"}'::jsonb, i.routed_at + n * interval '1 hour'
                          FROM escalated.issues i, generate_series(1, 8) n WHERE i.id > \(after)
                        """), logger: logger)
                    loaded += chunk
                }
                try await connection.query("RESET session_replication_role", logger: logger)
                // What routing adds beside the row's persons (015), which the seed writes without it: the units each person has issues in.
                try await connection.query("""
                    INSERT INTO escalated.person_units (person_code, unit_code)
                    SELECT DISTINCT p, i.unit_code FROM escalated.issues i, unnest(i.people) p
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
                for table in ["issues", "assignments", "events", "person_units"] {
                    try await connection.query(PostgresQuery(unsafeSQL: "VACUUM ANALYZE escalated.\(table)"), logger: logger)
                }
            }
        }
        let open = Int(try await scalar("SELECT count(*)::float8 FROM escalated.issues WHERE state IN ('routed', 'acknowledged', 'reopened')"))
        let events = Int(try await scalar("SELECT count(*)::float8 FROM escalated.events"))
        return (Int(try await scalar("SELECT count(*)::float8 FROM escalated.issues")), open, events)
    }
}
