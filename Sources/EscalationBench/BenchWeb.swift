import AsyncHTTPClient
import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresCluster
import PostgresNIO
import Synchronization

/// The web app's scenarios, against the real daemon over loopback HTTP:
///
/// - `web-pages`: page times among 1,000,000 issues (about 10,000 open in one agency's scope),
///   seeded in bulk by SQL; the inbox, two filtered lists and the issue page, from a few clients.
/// - `web-live`: 200 Server-Sent Events streams open while reports are inserted at `rate`/s; the
///   time from each INSERT's return to each stream receiving the issue's `reported` event.
/// - `web-signin`: the bcrypt cost in use, the time of a sign-in, and what 20 sign-ins at once do to
///   other requests.
///
/// Times are client-side, on loopback: a request's time runs from sending it to having read its
/// whole body, so it includes HTTP parsing on both sides (a fraction of a millisecond here) but
/// stands in for the server's time.
extension Bench {
    /// The agency whose inbox is measured (the `health` sector's in the sample directory).
    static let webAgency = "so-y-te"
    static let webPassword = "mật khẩu thử nghiệm 2026"

    // MARK: web-pages

    func webPages(total: Int, agencyOpen: Int, into report: inout BenchReport) async throws {
        let seedStarted = ContinuousClock.now
        let seed = try await seedWebIssues(total: total, agencyOpen: agencyOpen)
        let seedTime = (ContinuousClock.now - seedStarted).doubleMilliseconds / 1000
        // Cost 4 for the seed: this scenario measures pages, not bcrypt (web-signin does).
        try await makeAccounts([("bench-agency@example.org", Actor(kind: .agency, code: Self.webAgency))], cost: 4)
        let issueIDs = try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var ids: [Int64] = []
            for try await id in try await client.query(PostgresQuery(unsafeSQL: """
                SELECT id FROM (
                    SELECT i.id, row_number() OVER (ORDER BY i.id) AS r FROM escalated.issues i
                     WHERE i.state IN ('routed', 'acknowledged', 'reopened')
                       AND EXISTS (SELECT 1 FROM escalated.assignments a WHERE a.issue_id = i.id AND a.target_kind = 'agency'
                                      AND a.target_code = '\(Self.webAgency)' AND a.role = 'agency')) x
                 WHERE r % 97 = 1 ORDER BY id LIMIT 100
                """), logger: logger).decode(Int64.self) { ids.append(id) }
            return ids
        }
        guard !issueIDs.isEmpty else { throw BenchError("web-pages: the seed left no open issue in \(Self.webAgency)'s scope") }

        let port = try PostgresCluster.freeLoopbackPort()
        let daemon = try startDaemon(environment: ["ESCALATED_HTTP": "127.0.0.1:\(port)"])
        try await daemon.waitForListener(self)
        let clients = 4
        let perClient = 250
        let kinds: [(label: String, path: String)] = [
            ("inbox /issues", "/issues"),
            ("/issues?sector=health&q=nước", "/issues?sector=health&q=n%C6%B0%E1%BB%9Bc"),
            ("/issues?overdue=1&state=routed", "/issues?overdue=1&state=routed"),
            ("issue page /issues/ID", ""),
        ]
        @Sendable func path(_ kind: Int, _ n: Int) -> String {
            kinds[kind].path.isEmpty ? "/issues/\(issueIDs[n % issueIDs.count])" : kinds[kind].path
        }
        let measured = try await WebClient.with(port: port, connections: clients + 2) { web in
            try await web.waitUntilServing()
            let session = try await web.signIn(email: "bench-agency@example.org", password: Self.webPassword).session
            let css = try await web.get("/static/app.css", session: nil)
            let js = try await web.get("/static/live.js", session: nil)
            guard css.status == 200, js.status == 200 else { throw BenchError("web-pages: /static/app.css gave \(css.status), /static/live.js \(js.status)") }
            // Warm-up: every kind a few times per client (caches, prepared plans, connections).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for c in 0..<clients {
                    group.addTask {
                        for n in 0..<(10 * kinds.count) { _ = try await web.page(path(n % kinds.count, c * 1000 + n), session: session) }
                    }
                }
                try await group.waitForAll()
            }
            _ = try await scalar("SELECT 0::float8 FROM (SELECT pg_stat_statements_reset()) r")
            // Each client takes the kinds in turn, starting at a different one.
            @Sendable func run(clients: Int, perClient: Int) async throws -> [(kind: Int, ms: Double, bytes: Int, rows: Int)] {
                try await withThrowingTaskGroup(of: [(kind: Int, ms: Double, bytes: Int, rows: Int)].self) { group in
                    for c in 0..<clients {
                        group.addTask {
                            var out: [(kind: Int, ms: Double, bytes: Int, rows: Int)] = []
                            for n in 0..<(perClient * kinds.count) {
                                let kind = (n + c) % kinds.count
                                let page = try await web.page(path(kind, c * 7 + n), session: session)
                                out.append((kind, page.ms, page.body.readableBytes, page.text.occurrences(of: "<tr class=")))
                            }
                            return out
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
            }
            // One client alone: each request has the server to itself (its time is the server's
            // time plus loopback); then `clients` at once on the same two cores as PostgreSQL.
            let alone = try await run(clients: 1, perClient: perClient)
            let samples = try await run(clients: clients, perClient: perClient)
            return (alone: alone, samples: samples, css: css.body.readableBytes, js: js.body.readableBytes)
        }
        let statements = try await topStatements(3)
        let rss = daemon.residentMegabytes()
        try await daemon.stop()

        report.add("web-pages: seed (SQL, triggers off)", String(format: "%d issues, %d open, %d open in %@'s scope, %d assignments, %d events in %.0f s",
                                                                  seed.issues, seed.open, seed.agencyOpen, Self.webAgency, seed.assignments, seed.events, seedTime))
        report.add("web-pages: requests", "1 client alone, then \(clients) concurrent clients; \(perClient) of each page kind per client (after \(10 * clients) warm-up each); client-side time on loopback")
        for (index, kind) in kinds.enumerated() {
            let alone = measured.alone.filter { $0.kind == index }.map(\.ms).sorted()
            let mine = measured.samples.filter { $0.kind == index }
            let times = mine.map(\.ms).sorted()
            let html = mine.map(\.bytes).max() ?? 0
            let rows = mine.first.map { $0.rows } ?? 0
            let total = html + measured.css + measured.js
            report.add("web-pages: \(kind.label) p50 / p99, alone", String(format: "%.1f / %.1f ms (max %.1f; %d rows)", percentile(alone, 0.5), percentile(alone, 0.99), alone.last ?? 0,
                                                                         rows), "p99 <= 30 ms")
            report.add("web-pages: \(kind.label) p50 / p99, \(clients) at once", String(format: "%.1f / %.1f ms (max %.1f)", percentile(times, 0.5), percentile(times, 0.99), times.last ?? 0))
            report.add("web-pages: \(kind.label) size", String(format: "%.1f KB = %d HTML + %d app.css + %d live.js", Double(total) / 1024, html, measured.css, measured.js), "<= 60 KB")
        }
        report.add("web-pages: top statements (mean, calls)", statements)
        report.add("web-pages: daemon resident memory", String(format: "%.1f MB", rss))
    }

    /// Loads `total` issues already routed, in batches of 100,000, with the replication role so
    /// that no trigger runs (the intake triggers would reset the state to `reported` and make one
    /// event per issue; the router would then route them all): the seed writes what routing and
    /// the people's actions would have written. Per issue: its agency's and its area member's
    /// assignments, the `reported` and `routed` events, and one event per later step. One issue in
    /// `m` of every sector is open (routed, acknowledged or reopened, its running deadline spread
    /// over ±10 days, so about half overdue), `m` chosen so that the agency has `agencyOpen`; the
    /// others are resolved or closed. Issues are a year of reports, one every 30 s. No escalation
    /// is pending (`next_escalation_at` is null), so the escalator stays idle while pages are timed.
    func seedWebIssues(total: Int, agencyOpen: Int) async throws -> (issues: Int, open: Int, agencyOpen: Int, assignments: Int, events: Int) {
        let sectors = Int(try await scalar("SELECT count(*)::float8 FROM escalated.sectors"))
        let agencySectors = Int(try await scalar("SELECT count(*)::float8 FROM escalated.sectors WHERE agency_code = '\(Self.webAgency)'"))
        guard sectors > 0, agencySectors > 0 else { throw BenchError("web-pages: the directory has no sector of \(Self.webAgency)") }
        let m = max(1, Int((Double(total) * Double(agencySectors) / Double(sectors) / Double(agencyOpen)).rounded()))
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
                             s AS (SELECT array_agg(code ORDER BY code) AS codes, array_agg(agency_code ORDER BY code) AS agencies FROM escalated.sectors),
                             w AS (SELECT ARRAY['nước sạch', 'đường giao thông', 'điện chiếu sáng', 'trường học', 'trạm y tế', 'rác thải', 'đất đai'] AS words)
                        INSERT INTO escalated.issues (unit_code, people, sector_code, agency_code, severity, title, origin, state, version, route_revision,
                                                      created_at, routed_at, updated_at, acknowledge_due_at, resolve_due_at, due_at,
                                                      acknowledged_at, resolved_at, escalation_level)
                        SELECT u.codes[1 + (g / 7) % array_length(u.codes, 1)], array_remove(ARRAY[u.members[1 + (g / 7) % array_length(u.codes, 1)]], NULL),
                               s.codes[1 + g % \(sectors)], s.agencies[1 + g % \(sectors)],
                               CASE WHEN g % 10 = 0 THEN 'urgent' ELSE 'normal' END,
                               normalize('Báo cáo ' || w.words[1 + (g / 3) % 7] || ' số ' || g, NFC), 'sql', y.st,
                               CASE y.st WHEN 'routed' THEN 2 WHEN 'acknowledged' THEN 3 WHEN 'resolved' THEN 4 ELSE 5 END, 1,
                               x.c, x.c + interval '1 second', x.c + interval '1 day',
                               CASE WHEN y.st = 'routed' THEN x.due ELSE x.c + interval '4 hours' END,
                               CASE WHEN y.st IN ('acknowledged', 'reopened') THEN x.due ELSE x.c + interval '5 days' END,
                               CASE WHEN x.open THEN x.due END,
                               CASE WHEN y.st <> 'routed' THEN x.c + interval '1 hour' END,
                               CASE WHEN y.st IN ('resolved', 'closed') THEN x.c + interval '2 days' END,
                               CASE WHEN x.open THEN g % 3 ELSE 0 END
                          FROM generate_series(\(loaded + 1), \(loaded + chunk)) g, u, s, w,
                               LATERAL (SELECT now() - (\(total) - g) * interval '30 seconds' AS c,
                                               (g / \(sectors)) % \(m) = 0 AS open,
                                               now() + ((g::bigint * 7919) % 1728000 - 864000) * interval '1 second' AS due) x,
                               LATERAL (SELECT CASE WHEN x.open THEN (CASE WHEN (g / \(sectors * m)) % 10 < 6 THEN 'routed'
                                                                         WHEN (g / \(sectors * m)) % 10 < 9 THEN 'acknowledged' ELSE 'reopened' END)
                                                    WHEN g % 10 < 7 THEN 'closed' ELSE 'resolved' END AS st) y
                        """), logger: logger)
                    try await Self.seedAssignments(after: after, connection: connection, logger: logger)
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        WITH i AS (SELECT i.*, a.member_code FROM escalated.issues i
                                     JOIN escalated.units u ON u.code = i.unit_code JOIN escalated.areas a ON a.code = u.area_code
                                    WHERE i.id > \(after))
                        INSERT INTO escalated.events (issue_id, kind, actor, data, at)
                        SELECT id, 'reported', 'sql', '{"origin": "sql"}'::jsonb, created_at FROM i
                        UNION ALL
                        SELECT id, 'routed', 'router',
                               jsonb_build_object('directory_revision', 1, 'router', 'bench-seed',
                                                  'assignments', jsonb_build_array(jsonb_build_object('kind', 'agency', 'code', agency_code, 'role', 'agency'),
                                                                                   jsonb_build_object('kind', 'person', 'code', member_code, 'role', 'member'))),
                               routed_at FROM i
                        UNION ALL
                        SELECT id, 'acknowledged', 'agency:' || agency_code, '{}'::jsonb, acknowledged_at FROM i WHERE acknowledged_at IS NOT NULL
                        UNION ALL
                        SELECT id, 'resolved', 'agency:' || agency_code, '{}'::jsonb, resolved_at FROM i WHERE resolved_at IS NOT NULL
                        UNION ALL
                        SELECT id, 'closed', 'unit:' || unit_code, '{}'::jsonb, resolved_at + interval '1 day' FROM i WHERE state = 'closed'
                        UNION ALL
                        SELECT id, 'reopened', 'unit:' || unit_code, '{}'::jsonb, acknowledged_at + interval '1 hour' FROM i WHERE state = 'reopened'
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
        let inScope = Int(try await scalar("""
            SELECT count(*)::float8 FROM escalated.issues i WHERE i.state IN ('routed', 'acknowledged', 'reopened')
               AND EXISTS (SELECT 1 FROM escalated.assignments a WHERE a.issue_id = i.id AND a.target_kind = 'agency'
                              AND a.target_code = '\(Self.webAgency)' AND a.role = 'agency')
            """))
        let assignments = Int(try await scalar("SELECT count(*)::float8 FROM escalated.assignments"))
        let events = Int(try await scalar("SELECT count(*)::float8 FROM escalated.events"))
        return (Int(try await scalar("SELECT count(*)::float8 FROM escalated.issues")), open, inScope, assignments, events)
    }

    /// Makes accounts with a password set, hashed at `cost` (nil: the cost the daemon uses,
    /// `ESCALATED_BCRYPT_COST` or the default).
    func makeAccounts(_ accounts: [(email: String, scope: Actor)], cost: UInt8?) async throws {
        var accountSettings = try AccountSettings(environment: ProcessInfo.processInfo.environment)
        if let cost { accountSettings.passwordCost = cost }
        let store = accountSettings
        try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            let accountStore = AccountStore(client: client, settings: store)
            for (n, account) in accounts.enumerated() {
                let made = try await accountStore.create(name: "Bench \(n + 1)", email: account.email, locale: .vi, scope: account.scope, logger: logger)
                _ = try await accountStore.setPassword(secret: made.invitation, purpose: .invitation, password: Self.webPassword, logger: logger)
            }
        }
    }

    /// The `count` statements that took the most time since the last reset: mean time, shared
    /// buffers touched per call (the work, free of timing noise), calls, and the statement from its
    /// WHERE on (an agency's scope condition shortened to `scope`).
    func topStatements(_ count: Int) async throws -> String {
        try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var parts: [String] = []
            for try await (query, calls, mean, buffers) in try await client.query(PostgresQuery(unsafeSQL: """
                SELECT left(regexp_replace(regexp_replace(coalesce(substring(query from 'WHERE (.*)$'), query),
                                                          'EXISTS \\(SELECT \\S+ FROM escalated.assignments s[^)]*\\)', 'scope', 'g'), '\\s+', ' ', 'g'), 160),
                       calls::float8, mean_exec_time::float8, ((shared_blks_hit + shared_blks_read)::float8 / calls)::float8
                  FROM pg_stat_statements
                 WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT \(count)
                """), logger: logger).decode((String, Double, Double, Double).self) {
                parts.append(String(format: "%.2f ms, %.0f buffers × %.0f: `%@`", mean, buffers, calls, query))
            }
            return parts.joined(separator: "; ")
        }
    }

    // MARK: web-live

    func webLive(streams: Int, rate: Int, seconds: Int, into report: inout BenchReport) async throws {
        // Supervisors see every issue: each stream receives every event.
        let supervisors = ["vp-tinh-uy", "vp-ubnd"]
        let accounts = (0..<10).map { (email: "bench-supervisor-\($0)@example.org", scope: Actor(kind: .supervisor, code: supervisors[$0 % supervisors.count])) }
        try await makeAccounts(accounts, cost: 4)
        let port = try PostgresCluster.freeLoopbackPort()
        let daemon = try startDaemon(environment: ["ESCALATED_HTTP": "127.0.0.1:\(port)"])
        try await daemon.waitForListener(self)
        let settings = self.settings
        let logger = self.logger
        let warmUp = 3
        let result = try await WebClient.with(port: port, connections: streams + 4) { web in
            try await web.waitUntilServing()
            var sessions: [String] = []
            for account in accounts { sessions.append(try await web.signIn(email: account.0, password: Self.webPassword).session) }
            let logs = (0..<streams).map { _ in StreamLog() }
            return try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, log) in logs.enumerated() {
                    let session = sessions[n % sessions.count]
                    group.addTask { try await web.follow("/live", session: session, into: log, deadline: .seconds(seconds + warmUp + 300)) }
                }
                let openBy = ContinuousClock.now + .seconds(30)
                while logs.contains(where: { !$0.opened }) {
                    guard ContinuousClock.now < openBy else { throw BenchError("web-live: \(logs.filter { !$0.opened }.count) of \(streams) streams did not open within 30 s") }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let cpuBefore = daemon.cpuSeconds()
                let ownBefore = Self.ownCPUSeconds()
                // Reports, one INSERT per statement, on a schedule: `warmUp` seconds first (not
                // timed, but checked for loss), then `seconds` timed. Four connections take the
                // reports in turn, so that one slow commit does not hold back the next report's
                // arrival (the rate is an arrival rate, as reports come from many communes).
                let inserters = 4
                let clock = ContinuousClock()
                let interval = Duration.nanoseconds(1_000_000_000 / rate)
                let start = clock.now + .milliseconds(100)
                let total = rate * (seconds + warmUp)
                let inserted = try await Daemon.withClient(settings, applicationName: "escalated-bench-insert", logger: logger) { client in
                    try await withThrowingTaskGroup(of: (committed: [(id: Int64, at: ContinuousClock.Instant, timed: Bool)], late: Duration).self) { inserts in
                        for lane in 0..<inserters {
                            inserts.addTask {
                                try await client.withConnection { connection in
                                    var committed: [(id: Int64, at: ContinuousClock.Instant, timed: Bool)] = []
                                    var late = Duration.zero
                                    for i in stride(from: lane, to: total, by: inserters) {
                                        let due = start + interval * i
                                        if clock.now < due { try await Task.sleep(until: due, clock: clock) } else { late = max(late, clock.now - due) }
                                        var id: Int64 = 0
                                        for try await value in try await connection.query("""
                                            INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('LC-BX-01', 'land', \("live \(i)")) RETURNING id
                                            """, logger: logger).decode(Int64.self) { id = value }
                                        committed.append((id, clock.now, i >= rate * warmUp))
                                    }
                                    return (committed, late)
                                }
                            }
                        }
                        var all: (committed: [(id: Int64, at: ContinuousClock.Instant, timed: Bool)], late: Duration) = ([], .zero)
                        for try await lane in inserts {
                            all.committed += lane.committed
                            all.late = max(all.late, lane.late)
                        }
                        return all
                    }
                }
                let insertCPU = (daemon.cpuSeconds() - cpuBefore, Self.ownCPUSeconds() - ownBefore)
                // Every stream should have every report; wait for stragglers, then stop.
                let ids = inserted.committed.map(\.id)
                let drainStart = ContinuousClock.now
                while ContinuousClock.now < drainStart + .seconds(20), logs.contains(where: { !$0.hasAll(ids) }) {
                    try await Task.sleep(for: .milliseconds(100))
                }
                let drain = ContinuousClock.now - drainStart
                // Stopping the daemon ends the streams (its live feed finishes them).
                try await daemon.stop()
                group.cancelAll()
                return (inserted: inserted, logs: logs, drain: drain, cpu: insertCPU)
            }
        }

        var latencies: [Double] = []
        var slowest: [Double] = []
        latencies.reserveCapacity(result.inserted.committed.count * streams)
        var lost = 0, negative = 0, reloads = 0, messages = 0
        let received = result.logs.map { $0.snapshot() }
        for log in received {
            reloads += log.reloads
            messages += log.messages
        }
        for report in result.inserted.committed {
            var worst = -Double.infinity
            for log in received {
                guard let at = log.reported[report.id] else { lost += 1; continue }
                guard report.timed else { continue }
                let ms = (at - report.at).doubleMilliseconds
                if ms < 0 { negative += 1 }
                latencies.append(ms)
                worst = max(worst, ms)
            }
            if report.timed, worst > -Double.infinity { slowest.append(worst) }
        }
        latencies.sort()
        slowest.sort()
        let timed = result.inserted.committed.filter(\.timed).count
        let window = Double(seconds + warmUp)
        report.add("web-live: \(streams) streams (supervisors), reports at \(rate)/s for \(seconds) s (+\(warmUp) s warm-up)",
                   "\(timed) timed reports × \(streams) streams = \(latencies.count) pairs (inserter at most \(result.inserted.late.milliseconds) ms behind schedule)")
        report.add("web-live: INSERT return → stream has `reported` p50 / p99", String(format: "%.1f / %.1f ms (max %.1f; %d pairs negative: the event came first)",
                                                                                   percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.last ?? 0, negative), "p99 <= 100 ms")
        report.add("web-live: per report, the last of the streams p50 / p99", String(format: "%.1f / %.1f ms", percentile(slowest, 0.5), percentile(slowest, 0.99)))
        report.add("web-live: lost (stream × report pairs never received; `reload`s)", "\(lost) lost of \(result.inserted.committed.count * streams), \(reloads) reloads (waited \(result.drain.milliseconds) ms after the last insert)", "0")
        report.add("web-live: messages received; CPU during the inserts", String(format: "%d (%.0f/s); daemon %.1f s, bench client %.1f s of %.0f s wall",
                                                                                messages, Double(messages) / window, result.cpu.0, result.cpu.1, window))
    }

    // MARK: web-signin

    func webSignIn(total: Int, agencyOpen: Int, into report: inout BenchReport) async throws {
        _ = try await seedWebIssues(total: total, agencyOpen: agencyOpen)
        let signers = 20
        // The reader has its own account; the signers sign in once each per burst (the throttle
        // counts an attempt against its email until it succeeds: one email cannot sign in 20 times at once).
        let accounts = (0..<(signers + 1)).map { (email: "bench-signin-\($0)@example.org", scope: Actor(kind: .agency, code: Self.webAgency)) }
        try await makeAccounts(accounts, cost: nil)
        let hash = try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var found = ""
            for try await text in try await client.query("SELECT password_hash FROM escalated.accounts ORDER BY id LIMIT 1", logger: logger).decode(String.self) { found = text }
            return found
        }
        // $2b$11$…: the cost is the second field.
        let cost = hash.split(separator: "$").dropFirst().first.map(String.init) ?? "?"
        let port = try PostgresCluster.freeLoopbackPort()
        let daemon = try startDaemon(environment: ["ESCALATED_HTTP": "127.0.0.1:\(port)"])
        try await daemon.waitForListener(self)
        let rounds = 5
        let result = try await WebClient.with(port: port, connections: signers + 4) { web in
            try await web.waitUntilServing()
            let reader = try await web.signIn(email: accounts[signers].0, password: Self.webPassword).session
            for _ in 0..<20 { _ = try await web.page("/issues", session: reader) }
            // Sequential: the POST alone (the form's GET before it is not timed).
            _ = try await web.signIn(email: accounts[0].0, password: Self.webPassword)
            var sequential: [Double] = []
            for n in 0..<signers {
                let form = try await web.signInForm()
                sequential.append(try await web.postSignIn(form, email: accounts[n].0, password: Self.webPassword).ms)
            }
            // Alternately: the reader alone for as many requests as it made during the last burst
            // (300 the first time), then the reader during `signers` sign-ins at once.
            var quiet: [Double] = []
            var busy: [Double] = []
            var bursts: [Double] = []
            var refused = 0
            var lastCount = 300
            for _ in 0..<rounds {
                for _ in 0..<lastCount { quiet.append(try await web.page("/issues", session: reader).ms) }
                var forms: [(cookie: String, csrf: String)] = []
                for _ in 0..<signers { forms.append(try await web.signInForm()) }
                let done = Counter()
                let ready = forms
                let started = ContinuousClock.now
                let outcome = try await withThrowingTaskGroup(of: (Bool, [Double]).self) { group in
                    for n in 0..<signers {
                        group.addTask {
                            defer { done.add() }
                            do {
                                _ = try await web.postSignIn(ready[n], email: accounts[n].0, password: Self.webPassword)
                                return (true, [])
                            } catch is BenchError {
                                return (false, [])
                            }
                        }
                    }
                    group.addTask {
                        var times: [Double] = []
                        while done.value < signers { times.append(try await web.page("/issues", session: reader).ms) }
                        return (true, times)
                    }
                    return try await group.reduce(into: (refused: 0, times: [Double]())) { total, part in
                        if !part.0 { total.refused += 1 }
                        total.times += part.1
                    }
                }
                bursts.append((ContinuousClock.now - started).doubleMilliseconds)
                refused += outcome.refused
                busy += outcome.times
                lastCount = max(50, outcome.times.count)
            }
            return (sequential: sequential.sorted(), quiet: quiet.sorted(), busy: busy.sorted(), bursts: bursts.sorted(), refused: refused)
        }
        try await daemon.stop()
        let quiet99 = percentile(result.quiet, 0.99)
        let busy99 = percentile(result.busy, 0.99)
        report.add("web-signin: bcrypt cost in use", "\(cost) (the stored hash's; ESCALATED_BCRYPT_COST or the default \(AccountSettings.defaultPasswordCost))")
        report.add("web-signin: one sign-in (POST /sign-in), \(signers) in a row, p50 / max", String(format: "%.0f / %.0f ms", percentile(result.sequential, 0.5), result.sequential.last ?? 0))
        report.add("web-signin: \(signers) sign-ins at once, all done in (median of \(rounds))", String(format: "%.0f ms (%d refused)", percentile(result.bursts, 0.5), result.refused))
        report.add("web-signin: GET /issues p50 / p99, no sign-ins", String(format: "%.1f / %.1f ms (%d requests)", percentile(result.quiet, 0.5), quiet99, result.quiet.count))
        report.add("web-signin: GET /issues p50 / p99, during the sign-ins", String(format: "%.1f / %.1f ms (%d requests); p99 ratio %.1f ×", percentile(result.busy, 0.5), busy99,
                                                                                   result.busy.count, busy99 / max(quiet99, 0.001)))
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

extension Duration {
    var doubleMilliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}

extension String {
    func occurrences(of needle: String) -> Int { components(separatedBy: needle).count - 1 }
}

extension ChildDaemon {
    /// User and system CPU time of the daemon so far, in seconds.
    func cpuSeconds() -> Double { Bench.cpuSeconds(process: "\(process.processIdentifier)") }
}

extension Bench {
    /// This process's user and system CPU time so far, in seconds.
    static func ownCPUSeconds() -> Double { cpuSeconds(process: "self") }

    /// User and system CPU time of a process (`/proc/PROCESS/stat`), in seconds.
    static func cpuSeconds(process: String) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        // After the command's closing parenthesis: state is field 3; utime and stime are 14 and 15,
        // in clock ticks (USER_HZ, 100 on Linux).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / 100
    }
}

/// A count several tasks add to.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// What one `/live` stream received: when each issue's `reported` event came, and counts.
final class StreamLog: Sendable {
    struct State {
        var opened = false
        var reported: [Int64: ContinuousClock.Instant] = [:]
        var reloads = 0
        var messages = 0
    }

    let state = Mutex(State())

    var opened: Bool { state.withLock { $0.opened } }

    func hasAll(_ ids: [Int64]) -> Bool {
        state.withLock { state in ids.allSatisfy { state.reported[$0] != nil } }
    }

    func snapshot() -> State { state.withLock { $0 } }
}

/// The browser's part: one HTTP client that follows no redirect, cookies by hand.
struct WebClient: Sendable {
    let http: HTTPClient
    let base: String

    struct Fetched {
        var status: UInt
        var headers: HTTPHeaders
        var body: ByteBuffer
        var ms: Double
        var text: String { String(buffer: body) }

        /// The server's own time from `Server-Timing: total;dur=…`, when it sends one.
        var serverMilliseconds: Double? { serverTiming("total") }

        /// A duration of the `Server-Timing` header (`db`, `total`), in milliseconds.
        func serverTiming(_ name: String) -> Double? {
            headers["Server-Timing"].first.flatMap { value in
                value.split(separator: ",").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(name + ";") }
                    .flatMap { $0.split(separator: "=").last.flatMap { Double($0) } }
            }
        }

        /// The value of the cookie `name` this response sets.
        func cookie(_ name: String) -> String? {
            for header in headers["Set-Cookie"] {
                let pair = header.split(separator: ";", maxSplits: 1).first ?? ""
                if pair.hasPrefix(name + "=") { return String(pair.dropFirst(name.count + 1)) }
            }
            return nil
        }

        /// The value of the form field `name` (`name="csrf" value="…"`).
        func field(_ name: String) -> String? {
            guard let start = text.range(of: "name=\"\(name)\" value=\"") else { return nil }
            let rest = text[start.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        }
    }

    static func with<T: Sendable>(port: Int, connections: Int, _ body: (WebClient) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let web = WebClient(http: http, base: "http://127.0.0.1:\(port)")
        do {
            let result = try await body(web)
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func get(_ path: String, session: String?) async throws -> Fetched {
        try await fetch(path, session: session)
    }

    /// A page that must be there (200).
    func page(_ path: String, session: String) async throws -> Fetched {
        let fetched = try await fetch(path, session: session)
        guard fetched.status == 200 else { throw BenchError("GET \(path) gave \(fetched.status)") }
        return fetched
    }

    func fetch(_ path: String, session: String?, form: [(String, String)]? = nil, cookies: [String] = []) async throws -> Fetched {
        var request = HTTPClientRequest(url: base + path)
        var cookies = cookies
        if let session { cookies.append("escalated_session=\(session)") }
        if !cookies.isEmpty { request.headers.add(name: "Cookie", value: cookies.joined(separator: "; ")) }
        if let form {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
            let encoded = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
            request.body = .bytes(ByteBuffer(string: encoded))
        }
        let sent = ContinuousClock.now
        let response = try await http.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 32 << 20)
        return Fetched(status: response.status.code, headers: response.headers, body: body, ms: (ContinuousClock.now - sent).doubleMilliseconds)
    }

    /// Waits until the daemon answers HTTP (its listener connects to PostgreSQL before the port opens).
    func waitUntilServing() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let page = try? await fetch("/sign-in", session: nil), page.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("the daemon did not answer HTTP within 30 s")
    }

    /// The sign-in form's cookie and CSRF token.
    func signInForm() async throws -> (cookie: String, csrf: String) {
        let page = try await fetch("/sign-in", session: nil)
        guard page.status == 200, let cookie = page.cookie("escalated_signin"), let csrf = page.field("csrf") else {
            throw BenchError("GET /sign-in gave \(page.status) without its cookie or CSRF token")
        }
        return (cookie, csrf)
    }

    /// Posts the sign-in form; the session's secret and the POST's time.
    func postSignIn(_ form: (cookie: String, csrf: String), email: String, password: String) async throws -> (session: String, ms: Double) {
        let response = try await fetch("/sign-in", session: nil, form: [("csrf", form.csrf), ("next", "/issues"), ("email", email), ("password", password)],
                                       cookies: ["escalated_signin=\(form.cookie)"])
        guard response.status == 303, let session = response.cookie("escalated_session"), !session.isEmpty else {
            throw BenchError("POST /sign-in for \(email) gave \(response.status)")
        }
        return (session, response.ms)
    }

    func signIn(email: String, password: String) async throws -> (session: String, ms: Double) {
        try await postSignIn(try await signInForm(), email: email, password: password)
    }

    /// Reads a Server-Sent Events stream into `log` until it ends or the task is cancelled: the
    /// arrival time of each chunk is the time of every message completed in it.
    func follow(_ path: String, session: String, into log: StreamLog, deadline: Duration) async throws {
        var request = HTTPClientRequest(url: base + path)
        request.headers.add(name: "Cookie", value: "escalated_session=\(session)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await http.execute(request, timeout: .seconds(deadline.components.seconds))
        guard response.status == .ok else { throw BenchError("GET \(path) gave \(response.status.code)") }
        log.state.withLock { $0.opened = true }
        var pending: [UInt8] = []
        let prefix = Array(#"data: {"issue":"#.utf8)
        let reported = Array(#","kind":"reported""#.utf8)
        let reload = Array("event: reload".utf8)
        do {
            for try await chunk in response.body {
                let at = ContinuousClock.now
                pending.append(contentsOf: chunk.readableBytesView)
                guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { continue }
                var found: [Int64] = []
                var messages = 0, reloads = 0
                var lineStart = 0
                for index in 0...lastNewline where pending[index] == UInt8(ascii: "\n") {
                    let line = pending[lineStart..<index]
                    lineStart = index + 1
                    if line.starts(with: prefix) {
                        messages += 1
                        var cursor = line.startIndex + prefix.count
                        var id: Int64 = 0
                        while cursor < line.endIndex, let digit = line[cursor].asciiDigit {
                            id = id * 10 + Int64(digit)
                            cursor += 1
                        }
                        if line[cursor...].starts(with: reported) { found.append(id) }
                    } else if line.starts(with: reload) {
                        reloads += 1
                    }
                }
                pending.removeFirst(lastNewline + 1)
                log.state.withLock { state in
                    state.messages += messages
                    state.reloads += reloads
                    for id in found where state.reported[id] == nil { state.reported[id] = at }
                }
            }
        } catch {
            // Cancelled at the end of the scenario, or ended by the daemon stopping: not a failure.
            if !Task.isCancelled { throw error }
        }
    }
}

extension UInt8 {
    var asciiDigit: UInt8? { (48...57).contains(self) ? self - 48 : nil }
}

extension Bench {
    /// The seeded issues' assignments after `after`, as routing writes them: the sector's agency
    /// (the one on the issue row) and the member in charge of the unit's area (the row's `people`),
    /// at the routing time.
    static func seedAssignments(after: Int64, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: """
            INSERT INTO escalated.assignments (issue_id, target_kind, target_code, role, assigned_at)
            SELECT i.id, 'agency', s.agency_code, 'agency', i.routed_at
              FROM escalated.issues i JOIN escalated.sectors s ON s.code = i.sector_code WHERE i.id > \(after)
            UNION ALL
            SELECT i.id, 'person', a.member_code, 'member', i.routed_at
              FROM escalated.issues i JOIN escalated.units u ON u.code = i.unit_code JOIN escalated.areas a ON a.code = u.area_code
             WHERE i.id > \(after)
            """), logger: logger)
    }
}
