import AsyncHTTPClient
import EscalationStore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresCluster
import Synchronization
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// The database moving to another machine: a primary and a synchronous streaming standby of the
    /// test's own, the daemon on both (`target_session_attrs=read-write`), the primary killed with
    /// SIGKILL while reports come in over HTTP, the standby promoted as a failover manager would.
    @Suite("PostgreSQL failover")
    struct FailoverTests {
        /// One answer of the intake loop: when it came (seconds since the kill), its status, the issue id.
        struct Answer: Sendable {
            var at: Double
            var status: Int
            var id: Int64?
            var retryAfter: String?
        }

        @Test("SIGKILL of the primary, standby promoted: every report answered 201 is on the new primary and routed once, escalations fire once, intake answers 201 again within 10 s, 503 with Retry-After meanwhile")
        func primaryKilled() async throws {
            let base = NSTemporaryDirectory() + "escalated-failover-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let settings: [String: String] = ["fsync": "off", "full_page_writes": "off", "max_connections": "100", "wal_keep_size": "256MB"]
            let primary = try PostgresCluster.start(dataDirectory: base + "-primary", settings: settings, logger: testLogger)
            var standby: PostgresCluster?
            defer {
                primary.killHard()
                standby?.stop()
                try? FileManager.default.removeItem(atPath: base + "-primary")
                try? FileManager.default.removeItem(atPath: base + "-standby")
            }
            let clock = ContinuousClock.now
            func step(_ what: String) { print("failover: \(what) at \(String(format: "%.1f", Self.seconds(clock.duration(to: .now)))) s") }
            step("primary started")
            let onPrimary = try await TestPostgres.freshDatabase(on: try DatabaseSettings(url: primary.url()))
            try primary.baseBackup(into: base + "-standby")
            let replica = try PostgresCluster.start(dataDirectory: base + "-standby", settings: settings, logger: testLogger)
            standby = replica
            step("standby started")
            var standbySettings = onPrimary
            standbySettings.endpoints = [.init(host: replica.host, port: replica.port)]
            // Synchronous replication: a commit is acknowledged once the standby has it.
            _ = try primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
            _ = try primary.psql("SELECT pg_reload_conf()")
            try await TestPostgres.waitUntil(onPrimary, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'", equals: 1)

            step("standby synchronous")
            let token = try await TestTokens.make(onPrimary, "unit:N1")
            var both = onPrimary
            both.endpoints = [.init(host: primary.host, port: primary.port), .init(host: replica.host, port: replica.port)]
            both.target = .readWrite
            let daemon = try DaemonProcess.serve(both, environment: ["ESCALATED_POLL_INTERVAL": "1s"])
            let port = try await daemon.waitForPort()
            try await InProcessDaemon.waitForListener(onPrimary, count: 1)
            let ready = try await Self.get(port, "/readyz")
            #expect(ready.contains("\"host\":\"127.0.0.1:\(primary.port)\""), "\(ready)")

            // Issues whose escalations fall due during the failover: acknowledge deadline 2 s after
            // the report, then the agency at T and T+1 s, the member at T+2 s, the supervisors at T+4 s.
            try await TestPostgres.insertFastIssues(onPrimary, count: 20)
            try await TestPostgres.waitUntil(onPrimary, TestPostgres.routedCount, equals: 20, timeout: .seconds(10))

            let run = IntakeRun()
            let started = ContinuousClock.now
            let promotedAt: ContinuousClock.Instant = try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<2 {
                    group.addTask {
                        var n = 0
                        while !run.stop.withLock({ $0 }) {
                            n += 1
                            let answer = await Self.report(port: port, token: token, title: "Báo cáo \(worker)-\(n)")
                            run.answers.withLock { $0.append(Answer(at: Self.seconds(started.duration(to: .now)), status: answer.0, id: answer.1, retryAfter: answer.2)) }
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
                try await Task.sleep(for: .seconds(1.5))
                run.killedAt.withLock { $0 = .now }
                #expect(primary.killHard() > 1)
                // A failover manager notices and promotes a moment later.
                try await Task.sleep(for: .seconds(1))
                try replica.promote()
                let promoted = ContinuousClock.now
                run.promotedWall.withLock { $0 = Date().timeIntervalSince1970 }
                // Go on until reports have been accepted for a while on the new primary.
                let deadline = promoted + .seconds(20)
                while ContinuousClock.now < deadline {
                    let since = Self.seconds(started.duration(to: promoted))
                    let after = run.answers.withLock { $0.filter { $0.status == 201 && $0.at > since }.count }
                    if after >= 30 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                run.stop.withLock { $0 = true }
                try await group.waitForAll()
                return promoted
            }
            // Times from the kill.
            let kill = run.killedAt.withLock { $0 }!
            let killOffset = Self.seconds(started.duration(to: kill))
            let all = run.answers.withLock { $0 }.map { var a = $0; a.at -= killOffset; return a }
            let promotion = Self.seconds(kill.duration(to: promotedAt))
            let accepted = all.filter { $0.status == 201 }
            let firstAfter = accepted.filter { $0.at > promotion }.map(\.at).min()
            let refused = all.filter { $0.status != 201 }
            let statuses = Dictionary(grouping: all, by: \.status).mapValues(\.count)
            print("failover: \(all.count) reports sent, statuses \(statuses.sorted { $0.key < $1.key }); promotion \(String(format: "%.2f", promotion)) s after the kill; first 201 after the promotion at +\(firstAfter.map { String(format: "%.2f", $0 - promotion) } ?? "never") s")

            // Nothing but 201 and 503 (with Retry-After); never a 500 nor a dropped connection.
            #expect(refused.allSatisfy { $0.status == 503 && $0.retryAfter != nil }, "\(refused.filter { $0.status != 503 }.prefix(5))\nlog:\n\(daemon.log.suffix(3000))")
            let gap = try #require(firstAfter, "no report was accepted after the promotion; log:\n\(daemon.log.suffix(4000))") - promotion
            #expect(gap <= 10, "intake answered 201 again \(gap) s after the promotion")
            #expect(accepted.contains { $0.at < 0 }, "reports were accepted before the kill")

            // Every report answered 201 is on the new primary, and everything there is routed once.
            let ids = accepted.compactMap(\.id)
            #expect(ids.count == accepted.count)
            let found = try await TestPostgres.scalar(standbySettings,
                "SELECT count(*) FROM escalated.issues WHERE id = ANY('{\(ids.map(String.init).joined(separator: ","))}'::bigint[])")
            #expect(found == Int64(ids.count), "\(Int64(ids.count) - found) reports answered 201 are not on the new primary")
            let total = try await TestPostgres.scalar(standbySettings, "SELECT count(*) FROM escalated.issues")
            try await TestPostgres.waitUntil(standbySettings, TestPostgres.routedCount, equals: total, timeout: .seconds(20))
            // Each issue routed once: one `routed` event and its two assignments (the fast ones also have escalation events).
            #expect(try await TestPostgres.scalar(standbySettings, """
                SELECT count(*) FROM escalated.issues i
                 WHERE (SELECT count(*) FROM escalated.events e WHERE e.issue_id = i.id AND e.kind = 'routed') <> 1
                    OR (SELECT count(*) FROM escalated.assignments a WHERE a.issue_id = i.id) <> 2
                """) == 0)
            let wall = run.promotedWall.withLock { $0 }
            let resumed = try await TestPostgres.strings(standbySettings, """
                SELECT round((extract(epoch FROM min(at)) - \(wall))::numeric, 2)::text
                  FROM escalated.events WHERE kind = 'routed' AND at > to_timestamp(\(wall))
                """)
            print("failover: routing resumed \(resumed.first ?? "?") s after the promotion; \(ids.count) reports accepted, \(found) on the new primary, \(total) issues routed once")

            // The escalations due during the failover: all of them, each once, and each told once.
            try await TestPostgres.waitUntil(standbySettings, "SELECT count(*) FROM escalated.escalations", equals: 80, timeout: .seconds(30))
            try await Task.sleep(for: .seconds(1))
            #expect(try await TestPostgres.scalar(standbySettings, "SELECT count(*) FROM escalated.escalations") == 80)
            #expect(try await TestPostgres.scalar(standbySettings, "SELECT count(*) FROM escalated.events WHERE kind = 'escalated'") == 80)
            #expect(try await TestPostgres.scalar(standbySettings, "SELECT count(*) FROM escalated.outbox WHERE kind IN ('escalated', 'reminder')") == 80)
            #expect(try await TestPostgres.scalar(standbySettings, "SELECT count(*) FROM escalated.escalations WHERE fired_at < due_at") == 0)

            let after = try await Self.get(port, "/readyz")
            #expect(after.contains("\"host\":\"127.0.0.1:\(replica.port)\"") && after.contains("\"ready\":true"), "\(after)")
            // The CLI takes the same URL and finds the new primary (the old one refuses connections).
            let migrate = try DaemonProcess(arguments: ["migrate"], environment: ["DATABASE_URL": both.url])
            #expect(try await migrate.waitForExit() == 0)
            #expect(migrate.log.contains("the schema is current"), "\(migrate.log)")
            let listed = try DaemonProcess(arguments: ["issues", "list"], environment: ["DATABASE_URL": both.url])
            #expect(try await listed.waitForExit() == 0, "\(listed.log)")
            #expect(listed.log.contains("Báo cáo"), "\(listed.log.prefix(500))")
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
        }

        /// What the intake loop and the test share.
        final class IntakeRun: Sendable {
            let answers = Mutex<[Answer]>([])
            let killedAt = Mutex<ContinuousClock.Instant?>(nil)
            let stop = Mutex(false)
            let promotedWall = Mutex(0.0)
        }

        @Test("an idle daemon following the primary asks its host about once a second, not in a loop")
        func idleChecks() async throws {
            var settings = try await TestPostgres.freshDatabase()
            settings.target = .readWrite
            let daemon = try DaemonProcess.serve(settings)
            _ = try await daemon.waitForPort()
            try await InProcessDaemon.waitForListener(settings, count: 1)
            let commits = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            try await Task.sleep(for: .seconds(1))
            let before = try await TestPostgres.scalar(settings, commits)
            try await Task.sleep(for: .seconds(5))
            let after = try await TestPostgres.scalar(settings, commits)
            // The check (1/s), the router's and escalator's polls, the deliverer's look (2 s each),
            // the listener's heartbeat and this test's own queries: a handful a second. A check
            // loop without its pause made over 700 a second.
            let rate = Double(after - before) / 5
            print("following the primary, idle: \(rate) transactions a second")
            #expect(rate < 20, "\(rate) transactions a second while idle")
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
        }

        static func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }

        /// POSTs one report; (status, issue id, Retry-After), or status 0 when the connection failed.
        static func report(port: Int, token: String, title: String) async -> (Int, Int64?, String?) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/issues")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.body = .bytes(ByteBuffer(string: #"{"unit":"N1","sector":"land","title":"\#(title)"}"#))
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 1 << 20)
                let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
                return (Int(response.status.code), (object?["id"] as? NSNumber)?.int64Value, response.headers.first(name: "Retry-After"))
            } catch {
                return (0, nil, nil)
            }
        }

        static func get(_ port: Int, _ path: String) async throws -> String {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
            return String(buffer: try await response.body.collect(upTo: 1 << 20))
        }
    }
}
