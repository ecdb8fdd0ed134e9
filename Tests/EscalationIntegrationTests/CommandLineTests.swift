import AsyncHTTPClient
import EscalationServer
import EscalationStore
import Foundation
import NIOCore
import NIOHTTP1
import PostgresCluster
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// The executable as a user meets it: `demo` from nothing, and the CLI's answers to bad input.
    @Suite("The command line")
    struct CommandLineTests {
        @Test("`demo` creates its own PostgreSQL, imports the sample directory, routes, stops the cluster on SIGTERM, and keeps the data for the next run")
        func demoFromNothing() async throws {
            let folder = NSTemporaryDirectory() + "escalated-demo-test-\(UInt32.random(in: 0...UInt32.max))"
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let urlFile = folder + "/database.url"

            func startDemo() async throws -> (DaemonProcess, DatabaseSettings) {
                let demo = try DaemonProcess(arguments: ["demo", "--data-dir", folder, "--http", "127.0.0.1:0"], environment: [:])
                let deadline = ContinuousClock.now + .seconds(60)
                while !FileManager.default.fileExists(atPath: urlFile) {
                    guard ContinuousClock.now < deadline, demo.process.isRunning else { throw TestFailure("demo did not start; log:\n\(demo.log)") }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let url = try String(contentsOfFile: urlFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                let settings = try DatabaseSettings(url: url)
                try await InProcessDaemon.waitForListener(settings, count: 1)
                return (demo, settings)
            }

            let (first, settings) = try await startDemo()
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.units") == 48)
            try await TestPostgres.execute(settings, "INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('LC-BH-03', 'education', 'Thiếu giáo viên')")
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 1, timeout: .seconds(10))
            #expect(first.log.contains("escalated is running at http://127.0.0.1:"))
            #expect(first.log.contains("curl -s -X POST"))
            // One ready token per kind of actor, and they work: the unit files, the agency sees it in its inbox.
            let tokens = try await Self.waitForDemoTokens(first)
            #expect(Set(tokens.keys) == ["unit", "agency", "member", "supervisor", "admin"], "\(first.log)")
            let base = try #require(first.log.split(separator: "\n").first { $0.contains("escalated is running at ") }?
                .split(separator: " ").last.map(String.init))
            var file = HTTPClientRequest(url: "\(base)/v1/issues")
            file.method = .POST
            file.headers.add(name: "Authorization", value: "Bearer \(tokens["unit"] ?? "")")
            file.headers.add(name: "Content-Type", value: "application/json")
            file.body = .bytes(ByteBuffer(string: #"{"sector":"land","title":"Báo cáo thử"}"#))
            #expect(try await HTTPClient.shared.execute(file, timeout: .seconds(10)).status.code == 201)
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 2, timeout: .seconds(10))
            var inbox = HTTPClientRequest(url: "\(base)/v1/inbox")
            inbox.headers.add(name: "Authorization", value: "Bearer \(tokens["agency"] ?? "")")
            let listed = try await HTTPClient.shared.execute(inbox, timeout: .seconds(10)).body.collect(upTo: 1 << 20)
            #expect(String(buffer: listed).contains("Báo cáo thử"))
            first.signal(SIGTERM)
            #expect(try await first.waitForExit() == 0, "\(first.log)")
            #expect(!FileManager.default.fileExists(atPath: folder + "/postmaster.pid"), "the demo left PostgreSQL running")
            #expect(!FileManager.default.fileExists(atPath: urlFile))

            let (second, again) = try await startDemo()
            #expect(try await TestPostgres.strings(again, "SELECT title || '|' || state FROM escalated.issues ORDER BY id") == ["Thiếu giáo viên|routed", "Báo cáo thử|routed"])
            // The previous run's demo tokens are revoked; the new ones are printed.
            #expect(try await TestPostgres.scalar(again, "SELECT count(*) FROM escalated.tokens WHERE revoked_at IS NULL") == 5)
            #expect(Set(try await Self.waitForDemoTokens(second).values).isDisjoint(with: tokens.values))
            #expect(try await TestPostgres.scalar(again, "SELECT revision FROM escalated.directory_meta") == 1)
            second.signal(SIGINT)
            #expect(try await second.waitForExit() == 0)
            #expect(!FileManager.default.fileExists(atPath: folder + "/postmaster.pid"))
        }

        /// Waits for the banner (printed once HTTP serves) and returns its tokens.
        static func waitForDemoTokens(_ demo: DaemonProcess) async throws -> [String: String] {
            let deadline = ContinuousClock.now + .seconds(10)
            while demoTokens(demo.log).count < 5 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            return demoTokens(demo.log)
        }

        /// The demo banner's tokens, by actor kind.
        static func demoTokens(_ log: String) -> [String: String] {
            var tokens: [String: String] = [:]
            for line in log.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard words.count == 2, words[1].hasPrefix("esc_") else { continue }
                tokens[String(words[0].split(separator: ":").first ?? "")] = String(words[1])
            }
            return tokens
        }

        func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32, String) {
            let process = try DaemonProcess(arguments: arguments, environment: environment)
            let status = try await process.waitForExit()
            return (status, process.log)
        }

        @Test("bad input to the CLI exits 2 with one sentence, and changes nothing")
        func cliErrors() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let env = ["DATABASE_URL": settings.url]
            let cases: [([String], [String: String], String)] = [
                (["report", "--unit", "ZZ", "--sector", "land", "--title", "t"], env, "--unit 'ZZ' is not a unit in the directory"),
                (["report", "--unit", "N1", "--sector", "land", "--title", " "], env, "--title must not be empty"),
                (["report", "--unit", "N1", "--sector", "land", "--title", "t", "--severity", "high"], env, "--severity must be 'normal' or 'urgent'"),
                (["issues", "show", "abc"], env, "the issue id must be a positive whole number"),
                (["issues", "show", "999999"], env, "issue 999999 does not exist"),
                (["issues", "list", "--state", "lost"], env, "--state must be one of"),
                (["serve"], [:], "no database: set DATABASE_URL"),
                (["serve", "--http", "nonsense"], env, "must be HOST:PORT"),
                (["serve"], env.merging(["ESCALATED_BATCH_SIZE": "lots"]) { $1 }, "ESCALATED_BATCH_SIZE must be a whole number (got 'lots')"),
                (["serve", "--router-workers", "99"], env, "the router workers must be from 1 to 16 (got 99)"),
                (["serve"], env.merging(["ESCALATED_POLL_INTERVAL": "soon"]) { $1 }, "the poll interval must be a duration"),
                (["serve"], env.merging(["ESCALATED_HTTP_HEADER_TIMEOUT": "10"]) { $1 }, "ESCALATED_HTTP_HEADER_TIMEOUT must be a duration such as 500ms, 2s or 1m (got '10')"),
                (["serve"], env.merging(["ESCALATED_HTTP_MAX_CONNECTIONS": "0"]) { $1 }, "ESCALATED_HTTP_MAX_CONNECTIONS must be from 1 to 1000000 (got 0)"),
                (["serve"], env.merging(["ESCALATED_LISTEN_URL": "postgres://u@/db"]) { $1 }, "ESCALATED_LISTEN_URL has no host"),
                (["serve"], env.merging(["ESCALATED_MAINTENANCE_INTERVAL": "soon"]) { $1 }, "ESCALATED_MAINTENANCE_INTERVAL must be a duration such as 500ms, 2s or 1m (got 'soon')"),
                (["serve"], env.merging(["ESCALATED_RETAIN_DELIVERIES": "90"]) { $1 }, "ESCALATED_RETAIN_DELIVERIES must be a number of days such as 90d, at least 1d (got '90')"),
                (["serve"], env.merging(["ESCALATED_HTTP_MAX_CONNECTIONS": "0"]) { $1 }, "ESCALATED_HTTP_MAX_CONNECTIONS must be from 1 to 1000000 (got 0)"),
                (["migrate"], ["DATABASE_URL": "mysql://x/y"], "DATABASE_URL must look like postgres://"),
                (["directory", "import", "/nonexistent.yaml"], env, "cannot read /nonexistent.yaml"),
                (["bench", "--issues", "5"], [:], "--issues must be from 1000"),
                (["no-such-command"], [:], "Unexpected argument"),
            ]
            for (arguments, environment, message) in cases {
                let (status, log) = try await run(arguments, environment: environment)
                #expect(status == 2, "\(arguments): \(log)")
                #expect(log.contains(message), "\(arguments): \(log)")
            }
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues") == 0)
        }

        @Test("issue actions from the shell: acknowledge, comment, reassign, extend, resolve, reopen, close, held to the actor's scope and rights; refusals exit 2 with one sentence")
        func actions() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings) { _ in
                try await TestPostgres.insertIssues(settings, count: 1)
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 1, timeout: .seconds(10))
            }
            let env = ["DATABASE_URL": settings.url]
            let steps: [([String], Int32, String)] = [
                (["issues", "acknowledge", "1", "--as", "agency:water-dept"], 2, "issue 1 does not exist, or agency:water-dept may not see it"),
                (["issues", "acknowledge", "1", "--as", "unit:N1"], 2, "unit actors may not acknowledge issues (allowed: agency, supervisor, admin)"),
                (["issues", "acknowledge", "1", "--as", "land-dept"], 2, "--as 'land-dept' does not start with an actor kind"),
                (["issues", "acknowledge", "1", "--as", "agency:land-dept", "--if-version", "1"], 2, "issue 1 is at version 2, not 1"),
                (["issues", "acknowledge", "1", "--as", "agency:land-dept", "--if-version", "2"], 0, "issue 1 is acknowledged (version 3)"),
                (["issues", "acknowledge", "1"], 2, "issue 1 is acknowledged; acknowledge applies to routed issues"),
                (["issues", "comment", "1", "--as", "member:m-north", "--kind", "direction", "--text", "Xử lý trong tuần"], 0, "issue 1 is acknowledged (version 3)"),
                (["issues", "comment", "1", "--kind", "shout", "--text", "x"], 2, "--kind must be one of note, guidance, opinion, direction"),
                (["issues", "reassign", "1", "--as", "agency:land-dept", "--agency", "nowhere", "--reason", "x"], 2, "--agency 'nowhere' is not an agency in the directory"),
                (["issues", "reassign", "1", "--as", "agency:land-dept", "--agency", "health-dept", "--reason", "Thuộc lĩnh vực y tế"], 0, "issue 1 is routed (version 4)"),
                (["issues", "acknowledge", "1", "--as", "agency:land-dept"], 2, "issue 1 was handed over; health-dept is responsible for it now"),
                (["issues", "acknowledge", "1", "--as", "agency:health-dept"], 0, "issue 1 is acknowledged"),
                (["issues", "extend", "1", "--deadline", "resolve", "--by", "soon", "--reason", "x"], 2, "--by 'soon' is not a duration"),
                (["issues", "extend", "1", "--deadline", "resolve", "--by", "2h", "--reason", "Chờ ý kiến Sở Tài chính"], 0, "issue 1 is acknowledged"),
                (["issues", "resolve", "1", "--resolution", "   "], 2, "--resolution must not be empty"),
                (["issues", "close", "1"], 2, "issue 1 is acknowledged; close applies to resolved issues"),
                (["issues", "resolve", "1", "--resolution", "Đã giải quyết"], 0, "issue 1 is resolved"),
                (["issues", "reopen", "1", "--reason", "Chưa dứt điểm", "--as", "unit:N2"], 2, "issue 1 does not exist, or unit:N2 may not see it"),
                (["issues", "reopen", "1", "--reason", "Chưa dứt điểm", "--as", "unit:N1"], 0, "issue 1 is reopened"),
                (["issues", "resolve", "1", "--resolution", "Xong"], 0, "issue 1 is resolved"),
                (["issues", "close", "1"], 0, "issue 1 is closed"),
                (["issues", "acknowledge", "42"], 2, "issue 42 does not exist"),
                (["issues", "show", "1"], 0, "escalation: chain standard, level 0"),
            ]
            for (arguments, status, message) in steps {
                let (exit, log) = try await run(arguments, environment: env)
                #expect(exit == status, "\(arguments): \(log)")
                #expect(log.contains(message), "\(arguments): \(log)")
            }
            #expect(try await TestPostgres.strings(settings, "SELECT kind || ' ' || actor FROM escalated.events WHERE issue_id = 1 ORDER BY id") == [
                "reported sql", "routed router", "acknowledged agency:land-dept", "commented member:m-north", "reassigned agency:land-dept",
                "acknowledged agency:health-dept", "deadline_extended admin:cli", "resolved admin:cli",
                "reopened unit:N1", "resolved admin:cli", "closed admin:cli",
            ])
        }

        @Test("`directory import` reports file:line problems with exit 2 and writes nothing; a good file imports once")
        func directoryImport() async throws {
            let settings = try await TestPostgres.freshDatabase(directory: nil)
            let env = ["DATABASE_URL": settings.url]
            let bad = NSTemporaryDirectory() + "bad-\(UInt32.random(in: 0...UInt32.max)).yaml"
            let good = NSTemporaryDirectory() + "good-\(UInt32.random(in: 0...UInt32.max)).yaml"
            defer { unlink(bad); unlink(good) }
            try "units:\n  - code: u1\n    name: U\n    kind: commune\n    area: nowhere\n".write(toFile: bad, atomically: true, encoding: .utf8)
            try SampleDirectory.text().write(toFile: good, atomically: true, encoding: .utf8)
            let (badStatus, badLog) = try await run(["directory", "import", bad], environment: env)
            #expect(badStatus == 2)
            #expect(badLog.contains("\(bad):2: units[0] (u1): area: unknown area 'nowhere'"), "\(badLog)")
            #expect(try await TestPostgres.scalar(settings, "SELECT revision FROM escalated.directory_meta") == 0)
            let (okStatus, okLog) = try await run(["directory", "import", good], environment: env)
            #expect(okStatus == 0, "\(okLog)")
            #expect(okLog.contains("directory imported as revision 1: 48 units"))
            let (againStatus, againLog) = try await run(["directory", "import", good], environment: env)
            #expect(againStatus == 0)
            #expect(againLog.contains("directory unchanged (revision 1)"))
        }

        @Test("with no PostgreSQL install, the cluster refuses in one sentence naming the package")
        func noPostgres() {
            do {
                _ = try PostgresInstall.locate(environment: ["PATH": "/nonexistent"], libraryRoot: "/nonexistent")
                Issue.record("expected no install to be found")
            } catch {
                #expect(error.notInstalled)
                #expect(error.message.contains("install the Debian package 'postgresql'"))
            }
        }
    }
}
