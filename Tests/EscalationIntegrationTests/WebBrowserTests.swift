import EscalationCore
import EscalationServer
import EscalationStore
import EscalationWeb
import Foundation
import PostgresCluster
import Testing

extension IntegrationTests {
    /// The web app in a real headless Chromium (Debian's `chromium` and `chromedriver`, driven by
    /// selenium from PyPI; `.ci/run` installs them): Tests/browser/web_flow.py, against two daemons
    /// on one database, with the sample directory of Lào Cai.
    @Suite("Web app: a real browser", .serialized)
    struct WebBrowserTests {
        @Test("every role signs in and works an issue through its forms; live inbox; escaping, CSRF, stale forms, scope, replicas, sign-out")
        func browserFlow() async throws {
            for program in ["chromium", "chromedriver"] where Self.which(program) == nil {
                Issue.record("\(program) is not installed: apt-get install chromium chromium-driver (bash .ci/run does)")
                return
            }
            let directory = try SampleDirectory.load()
            let database = try await TestPostgres.freshDatabase(directory: directory)
            let accounts = try await Self.makeAccounts(database, directory: directory)
            let psql = try PostgresInstall.locate().binDirectory + "/psql"
            // Screenshots go to docs/screenshots when asked (ESCALATED_SCREENSHOTS=1), else to a temporary folder.
            let shots = ProcessInfo.processInfo.environment["ESCALATED_SCREENSHOTS"] == "1"
                ? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("docs/screenshots").path
                : NSTemporaryDirectory() + "escalated-shots-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
            let configure: @Sendable (inout DaemonConfiguration) -> Void = { config in
                config.web.accounts.passwordCost = 4
                config.router.pollInterval = .milliseconds(500)
            }
            try await InProcessDaemon.with(database, configure: configure) { portA in
                try await InProcessDaemon.with(database, configure: configure) { portB in
                    let output = try await Self.run(["python3", Self.script], environment: [
                        "BASE_A": "http://127.0.0.1:\(portA)", "BASE_B": "http://127.0.0.1:\(portB)",
                        "ACCOUNTS": accounts, "PSQL": psql, "DATABASE_URL": database.url, "SHOTS": shots,
                    ])
                    print(output.text)
                    #expect(output.status == 0, "the browser flow failed:\n\(output.text)")
                    #expect(output.text.hasSuffix("ok\n"), "the browser flow did not finish")
                }
            }
            // What the browser did is in the tables, attributed to the people.
            let names = try await TestPostgres.strings(database, """
                SELECT DISTINCT kind || ':' || account_name FROM escalated.events WHERE account_name IS NOT NULL ORDER BY 1
                """)
            for expected in ["acknowledged:Trần Văn Bình", "reported:Nguyễn Thị Lan", "resolved:Trần Văn Bình", "reopened:Nguyễn Thị Lan"] {
                #expect(names.contains(expected), "events name the person: \(expected) in \(names)")
            }
        }

        @Test("the dashboard of a five-week history in Chromium: cells link to their lists, charts with their tables; the report prints to numbered A4 pages")
        func reportPrint() async throws {
            for program in ["chromium", "chromedriver", "pdftoppm", "pdftotext", "pdfinfo"] where Self.which(program) == nil {
                Issue.record("\(program) is not installed: apt-get install chromium chromium-driver poppler-utils (bash .ci/run does)")
                return
            }
            let directory = try SampleDirectory.load()
            let database = try await TestPostgres.freshDatabase(directory: directory)
            let accounts = try await Self.makeAccounts(database, directory: directory)
            let shots = ProcessInfo.processInfo.environment["ESCALATED_SCREENSHOTS"] == "1"
                ? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("docs/screenshots").path
                : NSTemporaryDirectory() + "escalated-shots-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
            // Reports from 40 of the 48 units, routed by the daemon, then moved back over five weeks and
            // partly acknowledged and resolved, as a history would be.
            let units = directory.units.prefix(40).map(\.code), sectors = directory.sectors.map(\.code)
            var values: [String] = []
            for index in 0..<480 {
                values.append("('\(units[index % units.count])', '\(sectors[(index * 7 + index / 40) % sectors.count])', 'Khó khăn số \(index)', '\(index % 9 == 0 ? "urgent" : "normal")')")
            }
            let insert = "INSERT INTO escalated.issues (unit_code, sector_code, title, severity) VALUES " + values.joined(separator: ", ")
            let zone = directory.timeZone
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            let now = Date()
            let c = calendar.dateComponents([.year, .month, .day], from: now)
            let today = LocalDate(year: c.year!, month: c.month!, day: c.day!)
            let first = today.adding(days: -34)
            let start = try #require(calendar.date(from: DateComponents(year: first.year, month: first.month, day: first.day)))
            try await InProcessDaemon.with(database, configure: { $0.web.accounts.passwordCost = 4 }) { port in
                try await TestPostgres.execute(database, insert)
                try await TestPostgres.waitUntil(database, "SELECT count(*) FROM escalated.issues WHERE state = 'routed'", equals: 480)
                try await TestPostgres.execute(database, """
                    WITH s AS (SELECT id, (0.02 + random() * 33.5) * interval '1 day' AS back FROM escalated.issues)
                    UPDATE escalated.issues i SET created_at = i.created_at - s.back, routed_at = i.routed_at - s.back,
                           acknowledge_due_at = i.acknowledge_due_at - s.back, resolve_due_at = i.resolve_due_at - s.back, due_at = i.due_at - s.back,
                           next_escalation_at = NULL, next_level = NULL
                      FROM s WHERE s.id = i.id
                    """)
                try await TestPostgres.execute(database, """
                    WITH s AS (SELECT id, random() AS r, random() AS q FROM escalated.issues)
                    UPDATE escalated.issues i SET
                           state = CASE WHEN s.r < 0.25 THEN 'routed' WHEN s.r < 0.5 THEN 'acknowledged' ELSE 'resolved' END,
                           acknowledged_at = CASE WHEN s.r >= 0.25 THEN least(now(), i.created_at + s.q * interval '30 hours') END,
                           resolved_at = CASE WHEN s.r >= 0.5 THEN least(now(), i.created_at + interval '30 hours' + s.q * interval '5 days') END,
                           due_at = CASE WHEN s.r < 0.25 THEN i.acknowledge_due_at WHEN s.r < 0.5 THEN i.resolve_due_at END
                      FROM s WHERE s.id = i.id
                    """)
                try await TestPostgres.execute(database, """
                    UPDATE escalated.issues SET acknowledge_work_seconds = extract(epoch FROM acknowledged_at - created_at)::int / 3,
                                                resolve_work_seconds = extract(epoch FROM resolved_at - created_at)::int / 3
                    """)
                let received = try await TestPostgres.scalar(database, "SELECT count(*) FROM escalated.issues WHERE created_at >= '\(ISO8601DateFormatter().string(from: start))'")
                let output = try await Self.run(["python3", Self.printScript], environment: [
                    "BASE": "http://127.0.0.1:\(port)", "BASE_A": "http://127.0.0.1:\(port)", "BASE_B": "http://127.0.0.1:\(port)",
                    "ACCOUNTS": accounts, "SHOTS": shots, "QUERY": "period=custom&from=\(first)&to=\(today)", "RECEIVED": "\(received)",
                ])
                print(output.text)
                #expect(output.status == 0, "the report flow failed:\n\(output.text)")
                #expect(output.text.hasSuffix("ok\n"), "the report flow did not finish")
            }
        }

        static var printScript: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("browser/report_print.py").path
        }

        static var script: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("browser/web_flow.py").path
        }

        /// One account per role with a known password (bcrypt cost 4: the test is not about cost),
        /// as JSON for the script: the unit's, the agency that routing gives its first sector, the
        /// member in charge of its area, a supervisor, the operator, and a unit of another area.
        static func makeAccounts(_ database: DatabaseSettings, directory: Directory) async throws -> String {
            let unit = try #require(directory.units.first)
            let sector = try #require(directory.sectors.first)
            guard case .routed(let targets) = RoutingTable(directory: directory).route(RoutingInput(unit: unit.code, sector: sector.code, severity: .normal)),
                  let agency = targets.first(where: { $0.role == .agency })?.targetCode,
                  let member = targets.first(where: { $0.role == .member })?.targetCode else {
                throw TestFailure("the sample directory does not route \(unit.code)/\(sector.code) to an agency and a member")
            }
            let other = try #require(directory.units.first { $0.area != unit.area })
            let supervisor = try #require(directory.groups.first?.members.first ?? directory.people.first?.code)
            let people: [(String, Actor, String)] = [
                ("unit", Actor(kind: .unit, code: unit.code), "Nguyễn Thị Lan"),
                ("agency", Actor(kind: .agency, code: agency), "Trần Văn Bình"),
                ("member", Actor(kind: .member, code: member), directory.people.first { $0.code == member }?.name ?? "Ủy viên"),
                ("supervisor", Actor(kind: .supervisor, code: supervisor), directory.people.first { $0.code == supervisor }?.name ?? "Giám sát"),
                ("admin", Actor.admin, "Quản trị hệ thống"),
                ("other_unit", Actor(kind: .unit, code: other.code), "Phạm Văn Cường"),
            ]
            return try await TestPostgres.withClient(database) { client in
                var settings = AccountSettings()
                settings.passwordCost = 4
                let store = AccountStore(client: client, settings: settings)
                var json: [String: [String: String]] = [:]
                for (role, scope, name) in people {
                    let email = "\(role)@example.org"
                    let password = "mật khẩu của \(role)"
                    let made = try await store.create(name: name, email: email, locale: .vi, scope: scope, logger: testLogger)
                    _ = try await store.setPassword(secret: made.invitation, purpose: .invitation, password: password, logger: testLogger)
                    json[role] = ["email": email, "password": password, "name": name, "unit": unit.code, "sector": sector.code]
                }
                return String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
            }
        }

        static func which(_ program: String) -> String? {
            for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
                let path = "\(folder)/\(program)"
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
            return nil
        }

        /// Runs a program to its end without holding a thread (the daemons share this process);
        /// its standard output and error together.
        static func run(_ arguments: [String], environment: [String: String], timeout: Duration = .seconds(600)) async throws -> (status: Int32, text: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let logPath = NSTemporaryDirectory() + "escalated-browser-\(UInt32.random(in: 0...UInt32.max)).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            defer { try? FileManager.default.removeItem(atPath: logPath) }
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let deadline = ContinuousClock.now + timeout
            while process.isRunning {
                if ContinuousClock.now > deadline { process.terminate() }
                try await Task.sleep(for: .milliseconds(100))
            }
            try log.close()
            return (process.terminationStatus, (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
        }
    }
}
