import AsyncHTTPClient
import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing

extension IntegrationTests {
    /// Tokens, scopes and rights over real HTTP, against the real store.
    @Suite("Access: tokens, scopes, rights")
    struct AccessTests {
        /// Issue 1: N1 (north, m-north), land → land-dept. Issue 2: S1 (south, m-south), health → health-dept.
        static func twoIssues(_ settings: DatabaseSettings) async throws {
            try await TestPostgres.execute(settings, """
                INSERT INTO escalated.issues (unit_code, sector_code, title) SELECT * FROM (VALUES ('N1', 'land', 'north land'), ('S1', 'health', 'south health')) v ORDER BY 1
                """)
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 2, timeout: .seconds(10))
        }

        static let actions: [(name: String, body: String)] = [
            ("acknowledge", "{}"), ("comment", #"{"text":"Ý kiến"}"#), ("reassign", #"{"agency":"health-dept","reason":"x"}"#),
            ("resolve", #"{"resolution":"x"}"#), ("reopen", #"{"reason":"x"}"#),
            ("extend", #"{"deadline":"resolve","by":"1h","reason":"x"}"#), ("close", "{}"),
        ]

        @Test("matrix: for every actor kind, every endpoint on an issue in scope and one outside it")
        func matrix() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await APITests.app(settings, configure: { $0.api.rateLimit = 0 }).testLive { raw in
                try await InProcessDaemon.waitForListener(settings, count: 1)
                try await Self.twoIssues(settings)
                let history = "SELECT count(*) FROM escalated.events WHERE issue_id <= 2"
                let before = try await TestPostgres.scalar(settings, history)
                // (actor, issue in scope, issue outside it (nil: sees everything))
                let actors: [(String, Int, Int?)] = [
                    ("unit:N1", 1, 2), ("agency:land-dept", 1, 2), ("member:m-north", 1, 2), ("supervisor:office", 1, nil), ("admin", 2, nil),
                ]
                for (actorText, inside, outside) in actors {
                    let actor = try Actor.parse(actorText)
                    let client = AuthedClient(raw, token: try await TestTokens.make(settings, actorText))
                    // Reading.
                    #expect(try await client.execute(uri: "/v1/issues/\(inside)", method: .get).status == .ok, "\(actorText)")
                    let listed = try APITests.object(try await client.execute(uri: "/v1/issues", method: .get).body)["items"] as? [[String: Any]] ?? []
                    let inbox = try APITests.object(try await client.execute(uri: "/v1/inbox", method: .get).body)["items"] as? [[String: Any]] ?? []
                    let summary = try APITests.object(try await client.execute(uri: "/v1/reports/summary", method: .get).body)
                    let units = Set((summary["units"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String })
                    #expect(listed.contains { $0["id"] as? Int == inside }, "\(actorText)")
                    #expect(inbox.contains { $0["id"] as? Int == inside }, "\(actorText)")
                    if let outside {
                        let missing = try await client.execute(uri: "/v1/issues/\(outside)", method: .get)
                        #expect(missing.status == .notFound, "\(actorText)")
                        #expect(!String(buffer: missing.body).contains("south health"))
                        #expect(!listed.contains { $0["id"] as? Int == outside }, "\(actorText) lists \(outside)")
                        #expect(!inbox.contains { $0["id"] as? Int == outside }, "\(actorText) inbox has \(outside)")
                        #expect(units == ["N1"], "\(actorText) summary: \(units)")
                    } else {
                        #expect(listed.count == 2 && units == ["N1", "S1"], "\(actorText)")
                    }
                    // Acting: outside → 404; inside without the right → 403; inside with it → reaches the version check (412).
                    for (name, body) in Self.actions {
                        let stale: HTTPFields = [.contentType: "application/json", .ifMatch: "\"99\""]
                        if let outside {
                            let response = try await client.execute(uri: "/v1/issues/\(outside)/\(name)", method: .post, headers: stale, body: ByteBuffer(string: body))
                            #expect(response.status == .notFound, "\(actorText) \(name) on \(outside): \(String(buffer: response.body))")
                        }
                        let response = try await client.execute(uri: "/v1/issues/\(inside)/\(name)", method: .post, headers: stale, body: ByteBuffer(string: body))
                        let allowed = actor.may(Actor.Operation(rawValue: name)!)
                        #expect(response.status == (allowed ? .preconditionFailed : .forbidden), "\(actorText) \(name): \(String(buffer: response.body))")
                    }
                    // Filing: a unit for itself only; agencies, members and supervisors not at all.
                    let filed = try await client.execute(uri: "/v1/issues", method: .post, headers: APITests.json,
                                                         body: ByteBuffer(string: #"{"unit":"S1","sector":"land","title":"t"}"#))
                    #expect(filed.status == (actor.kind == .admin ? .created : .forbidden), "\(actorText) files for S1")
                    // Operating: admin only.
                    for uri in ["/v1/tokens", "/v1/deliveries", "/v1/directory"] {
                        #expect(try await client.execute(uri: uri, method: .get).status == (actor.kind == .admin ? .ok : .forbidden), "\(actorText) \(uri)")
                    }
                }
                let own = AuthedClient(raw, token: try await TestTokens.make(settings, "unit:N2"))
                let mine = try await own.execute(uri: "/v1/issues", method: .post, headers: APITests.json, body: ByteBuffer(string: #"{"sector":"land","title":"Của N2"}"#))
                #expect(mine.status == .created)
                #expect(try APITests.object(mine.body)["unit"] as? String == "N2")
                #expect(try await TestPostgres.strings(settings, "SELECT e.actor FROM escalated.events e JOIN escalated.issues i ON i.id = e.issue_id WHERE i.title = 'Của N2' AND e.kind = 'reported'") == ["unit:N2"])
                // Nothing refused changed anything: no event on either issue, no new version.
                #expect(try await TestPostgres.scalar(settings, history) == before)
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues") == 4, "two issues, admin's and N2's")
                #expect(try await TestPostgres.scalar(settings, "SELECT sum(version) FROM escalated.issues WHERE id <= 2") == 4)
            }
        }

        @Test("tokens: missing, malformed, unknown, revoked and expired are refused with 401; the token is never stored, echoed or logged")
        func tokens() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let daemon = try DaemonProcess.serve(settings, environment: ["ESCALATED_LOG_LEVEL": "trace", "ESCALATED_TOKEN_CACHE": "200ms"])
            defer { daemon.signal(SIGKILL) }
            let port = try await daemon.waitForPort()
            let admin = try await TestTokens.make(settings, "admin")
            let http = HTTPClient.shared
            func get(_ path: String, _ authorization: String?) async throws -> (Int, String, String?) {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                if let authorization { request.headers.add(name: "Authorization", value: authorization) }
                let response = try await http.execute(request, timeout: .seconds(10))
                let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
                return (Int(response.status.code), body, response.headers.first(name: "WWW-Authenticate"))
            }
            #expect(try await get("/v1/issues", "Bearer \(admin)").0 == 200)
            let unknown = "esc_" + String(repeating: "A", count: 43)
            for (authorization, field) in [(nil, "Authorization"), ("Basic abc", "Authorization"), ("Bearer short", "Authorization"), ("Bearer \(unknown)", "Authorization")] as [(String?, String)] {
                let (status, body, challenge) = try await get("/v1/issues", authorization)
                #expect(status == 401, "\(authorization ?? "none")")
                #expect(body.contains(#""field":"\#(field)""#))
                #expect(challenge?.hasPrefix("Bearer") == true)
                #expect(!body.contains(unknown))
            }
            // Made over the API: shown once; revoked over the API: refused at once.
            var create = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/tokens")
            create.method = .POST
            create.headers.add(name: "Authorization", value: "Bearer \(admin)")
            create.headers.add(name: "Content-Type", value: "application/json")
            create.body = .bytes(ByteBuffer(string: #"{"actor":"agency:land-dept","name":"Văn phòng Sở"}"#))
            let made = try APITests.object(try await http.execute(create, timeout: .seconds(10)).body.collect(upTo: 1 << 20))
            let secret = try #require(made["secret"] as? String)
            let id = try #require((made["token"] as? [String: Any])?["id"] as? Int)
            #expect(try await get("/v1/inbox", "Bearer \(secret)").0 == 200)
            let listedTokens = try await get("/v1/tokens", "Bearer \(admin)").1
            #expect(listedTokens.contains("Văn phòng Sở") && !listedTokens.contains(secret) && !listedTokens.contains(admin))
            var revoke = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/tokens/\(id)")
            revoke.method = .DELETE
            revoke.headers.add(name: "Authorization", value: "Bearer \(admin)")
            #expect(try await http.execute(revoke, timeout: .seconds(10)).status.code == 204)
            #expect(try await get("/v1/inbox", "Bearer \(secret)").0 == 401)
            // Revoked elsewhere (the store, as the CLI does): refused once the daemon's short cache runs out.
            let other = try await TestTokens.make(settings, "unit:N1")
            #expect(try await get("/v1/inbox", "Bearer \(other)").0 == 200)
            try await TestPostgres.execute(settings, "UPDATE escalated.tokens SET revoked_at = now() WHERE name = 'test unit:N1'")
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await get("/v1/inbox", "Bearer \(other)").0 == 401)
            // Expired.
            let brief = try await TestTokens.make(settings, "member:m-north", expiresAt: Date().addingTimeInterval(1))
            #expect(try await get("/v1/inbox", "Bearer \(brief)").0 == 200)
            try await Task.sleep(for: .milliseconds(1300))
            #expect(try await get("/v1/inbox", "Bearer \(brief)").0 == 401)
            // Not stored, not logged (trace level), not in any table.
            for token in [admin, secret, other, brief] {
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.tokens t WHERE t::text LIKE '%\(token)%'") == 0)
                #expect(!daemon.log.contains(token))
                #expect(!daemon.log.contains(String(token.dropFirst(4).prefix(20))))
            }
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.tokens WHERE last_used_at IS NOT NULL") >= 3)
        }

        @Test("two agencies acknowledging and reassigning the same issue at once: one wins, the other gets 409 or 412, the history is consistent")
        func concurrentAcknowledgeAndReassign() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await APITests.app(settings, configure: { $0.api.rateLimit = 0 }).testLive { raw in
                try await InProcessDaemon.waitForListener(settings, count: 1)
                try await TestPostgres.insertIssues(settings, count: 30)
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 30, timeout: .seconds(10))
                // Two officers of the agency, each with a token.
                let acknowledger = AuthedClient(raw, token: try await TestTokens.make(settings, "agency:land-dept"))
                let handover = AuthedClient(raw, token: try await TestTokens.make(settings, "agency:land-dept"))
                var outcomes: [String: Int] = [:]
                for id in 1...30 {
                    let version = try #require(try APITests.object(try await acknowledger.execute(uri: "/v1/issues/\(id)", method: .get).body)["version"] as? Int)
                    let headers: HTTPFields = [.contentType: "application/json", .ifMatch: "\"\(version)\""]
                    async let ack = acknowledger.execute(uri: "/v1/issues/\(id)/acknowledge", method: .post, headers: headers, body: ByteBuffer(string: "{}"))
                    async let moved = handover.execute(uri: "/v1/issues/\(id)/reassign", method: .post, headers: headers,
                                                       body: ByteBuffer(string: #"{"agency":"health-dept","reason":"Thuộc ngành y tế"}"#))
                    let (a, r) = (try await ack.status, try await moved.status)
                    #expect([a, r].filter { $0 == .ok }.count == 1, "issue \(id): acknowledge \(a), reassign \(r)")
                    #expect([a, r].allSatisfy { [.ok, .conflict, .preconditionFailed].contains($0) }, "issue \(id): \(a) \(r)")
                    outcomes[a == .ok ? "acknowledged" : "reassigned", default: 0] += 1
                }
                // The history agrees with the answers: exactly one of the two events per issue, and the state it leads to.
                #expect(try await TestPostgres.scalar(settings, """
                    SELECT count(*) FROM escalated.issues i WHERE (SELECT count(*) FROM escalated.events e
                     WHERE e.issue_id = i.id AND e.kind IN ('acknowledged', 'reassigned')) <> 1
                    """) == 0)
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues WHERE state = 'acknowledged'") == Int64(outcomes["acknowledged", default: 0]))
                #expect(try await TestPostgres.scalar(settings, """
                    SELECT count(*) FROM escalated.issues i JOIN escalated.assignments a ON a.issue_id = i.id AND a.role = 'agency'
                     WHERE a.target_code = 'health-dept' AND i.state = 'routed'
                    """) == Int64(outcomes["reassigned", default: 0]))
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE kind = 'routed' AND recipient_code = 'health-dept'") >= Int64(outcomes["reassigned", default: 0]))
            }
        }

        @Test("inbox, filters, sorting, the summary in JSON and CSV, comments and reassignment over HTTP, and the rate limit")
        func workingViews() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await APITests.app(settings, configure: { $0.api.rateLimit = 0.5; $0.api.rateBurst = 10 }).testLive { raw in
                try await InProcessDaemon.waitForListener(settings, count: 1)
                try await Self.twoIssues(settings)
                try await TestPostgres.insertIssues(settings, count: 3, unit: "N2", sector: "land")
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 5, timeout: .seconds(10))
                // One issue overdue for the agency, by moving its deadline into the past.
                try await TestPostgres.execute(settings, "UPDATE escalated.issues SET due_at = now() - interval '1 hour', acknowledge_due_at = now() - interval '1 hour' WHERE id = 4")
                let agency = AuthedClient(raw, token: try await TestTokens.make(settings, "agency:land-dept"))
                let inbox = try APITests.object(try await agency.execute(uri: "/v1/inbox", method: .get).body)["items"] as? [[String: Any]] ?? []
                #expect(inbox.compactMap { $0["id"] as? Int }.first == 4, "overdue first")
                #expect(Set(inbox.compactMap { $0["id"] as? Int }) == [1, 3, 4, 5])
                let member = AuthedClient(raw, token: try await TestTokens.make(settings, "member:m-north"))
                let area = try APITests.object(try await member.execute(uri: "/v1/issues?area=north&sort=oldest&limit=2", method: .get).body)
                #expect((area["items"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [1, 3])
                let next = try #require(area["next_cursor"] as? String)
                let rest = try APITests.object(try await member.execute(uri: "/v1/issues?area=north&sort=oldest&limit=2&cursor=\(next)", method: .get).body)
                #expect((rest["items"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [4, 5])
                #expect(try await member.execute(uri: "/v1/issues?sort=oldest&cursor=\(next)x", method: .get).status == .badRequest)
                // A direction from the member, then a handover by the agency.
                let comment = try await member.execute(uri: "/v1/issues/3/comment", method: .post, headers: APITests.json,
                                                       body: ByteBuffer(string: #"{"kind":"direction","text":"Giải quyết trước thứ Sáu"}"#))
                #expect(comment.status == .ok && comment.headers[.eTag] == "\"2\"")
                let handed = try await agency.execute(uri: "/v1/issues/3/reassign", method: .post, headers: APITests.json,
                                                      body: ByteBuffer(string: #"{"agency":"health-dept","reason":"Thuộc ngành y tế"}"#))
                #expect(handed.status == .ok)
                let events = (try APITests.object(handed.body)["events"] as? [[String: Any]] ?? []).map { "\($0["kind"]!) \($0["actor"]!)" }
                #expect(events.suffix(2) == ["commented member:m-north", "reassigned agency:land-dept"])
                let after = try APITests.object(try await agency.execute(uri: "/v1/inbox", method: .get).body)["items"] as? [[String: Any]] ?? []
                #expect(!after.contains { $0["id"] as? Int == 3 }, "handed over: out of the inbox")
                #expect(try await agency.execute(uri: "/v1/issues/3", method: .get).status == .ok, "still readable")
                // The agency on the issue row (what the reports group by) follows routing and the handover.
                #expect(try await TestPostgres.strings(settings, "SELECT agency_code FROM escalated.issues WHERE id = 3") == ["health-dept"])
                #expect(try await TestPostgres.scalar(settings, """
                    SELECT count(*) FROM escalated.issues i
                     WHERE i.agency_code IS DISTINCT FROM (SELECT a.target_code FROM escalated.assignments a
                                                           WHERE a.issue_id = i.id AND a.target_kind = 'agency' AND a.role = 'agency')
                    """) == 0)
                // And the persons on the row (a member's scope) are the person assignments, in code order.
                #expect(try await TestPostgres.scalar(settings, """
                    SELECT count(*) FROM escalated.issues i
                     WHERE i.people IS DISTINCT FROM ARRAY(SELECT a.target_code FROM escalated.assignments a
                                                            WHERE a.issue_id = i.id AND a.target_kind = 'person' ORDER BY a.target_code COLLATE "C")
                    """) == 0)
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues WHERE people = '{m-north}'") == 4)
                // The summary, JSON and CSV.
                let supervisor = AuthedClient(raw, token: try await TestTokens.make(settings, "supervisor:office"))
                // The list's agency filter is the agency responsible now, as the summary counts it.
                for (agency, ids) in [("health-dept", [2, 3]), ("land-dept", [1, 4, 5])] {
                    let listed = try APITests.object(try await supervisor.execute(uri: "/v1/issues?agency=\(agency)&sort=oldest", method: .get).body)
                    #expect((listed["items"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == ids, "\(agency)")
                }
                let json = try APITests.object(try await supervisor.execute(uri: "/v1/reports/summary", method: .get).body)
                let units = (json["units"] as? [[String: Any]] ?? []).reduce(into: [String: Int]()) { $0[$1["code"] as! String] = $1["received"] as? Int }
                #expect(units == ["N1": 1, "N2": 3, "S1": 1])
                #expect((json["areas"] as? [[String: Any]])?.first { $0["code"] as? String == "north" }?["overdue"] as? Int == 1)
                let csv = try await supervisor.execute(uri: "/v1/reports/summary?format=csv", method: .get)
                #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
                let lines = String(buffer: csv.body).split(separator: "\r\n")
                #expect(lines.first?.hasPrefix("dimension,code,received,acknowledged_on_time,resolved_on_time,overdue") == true)
                #expect(lines.contains("unit,N2,3,0,0,1,,,,,,,,"))
                #expect(lines.contains("sector,land,4,0,0,1,,,,,,,,"), "and per sector")
                let today = Date().formatted(.iso8601.year().month().day())
                #expect(try await supervisor.execute(uri: "/v1/reports/summary?from=\(today)&to=\(today)", method: .get).status == .ok)
                for (query, field) in [("from=2026-02-30", "from"), ("to=yesterday", "to"), ("from=2026-11-02&to=2026-11-01", "to"), ("format=xml", "format")] {
                    let refused = try await supervisor.execute(uri: "/v1/reports/summary?\(query)", method: .get)
                    let named = try APITests.errorField(refused.body)
                    #expect(refused.status == .badRequest && named == field, "\(query)")
                }
                // Rate limit (0.5 a second, 10 at once here): the 11th answers 429 with Retry-After; other tokens go on.
                let limited = AuthedClient(raw, token: try await TestTokens.make(settings, "unit:N1"))
                var statuses: [HTTPResponse.Status] = []
                for _ in 0..<11 { statuses.append(try await limited.execute(uri: "/v1/inbox", method: .get).status) }
                #expect(statuses.prefix(10).allSatisfy { $0 == .ok } && statuses.last == .tooManyRequests, "\(statuses)")
                let refused = try await limited.execute(uri: "/v1/inbox", method: .get)
                #expect(refused.status == .tooManyRequests && ["1", "2"].contains(refused.headers[.retryAfter] ?? ""))
                #expect(try APITests.errorField(refused.body) == "Authorization")
                #expect(try await AuthedClient(raw, token: try await TestTokens.make(settings, "unit:N2")).execute(uri: "/v1/inbox", method: .get).status == .ok)
            }
        }

        @Test("the OpenAPI document is served as committed, and schemathesis finds no 5xx and no answer off the schema, for every actor kind")
        func contract() async throws {
            let settings = try await TestPostgres.freshDatabase()
            // Tokens far from the small ids schemathesis tries, so DELETE /v1/tokens/{id} cannot revoke them.
            try await TestPostgres.execute(settings, "ALTER TABLE escalated.tokens ALTER COLUMN id RESTART WITH 1000000000")
            let committed = try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../api/openapi.yaml").standardized)
            try await InProcessDaemon.with(settings, configure: { $0.api.rateLimit = 0 }) { port in
                try await Self.twoIssues(settings)
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/openapi.yaml"), timeout: .seconds(10))
                let served = try await response.body.collect(upTo: 1 << 22)
                #expect(Data(served.readableBytesView) == committed)
                for actor in ["unit:N1", "agency:land-dept", "member:m-north", "supervisor:office", "admin"] {
                    let token = try await TestTokens.make(settings, actor)
                    let (status, output) = try await Schemathesis.run(port: port, token: token)
                    #expect(status == 0, "schemathesis as \(actor):\n\(output.suffix(8000))")
                }
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.units") == 3, "the directory is still there")
            }
        }
    }
}

/// schemathesis (from PyPI; `.ci/run` installs it) against a running daemon.
enum Schemathesis {
    static func run(port: Int, token: String) async throws -> (Int32, String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("schemathesis-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-m", "schemathesis.cli", "run", "http://127.0.0.1:\(port)/openapi.yaml", "--url", "http://127.0.0.1:\(port)",
            "-H", "Authorization: Bearer \(token)",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases", "examples,coverage,fuzzing", "--max-examples", "25", "--workers", "1",
            "--seed", "20261127", "--generation-database", "none", "--no-color", "--output-sanitize", "true",
        ]
        process.environment = ProcessInfo.processInfo.environment.merging(["SCHEMATHESIS_HOOKS": ""]) { $1 }
        // Its cache (.schemathesis/) goes to the temporary directory, not into the checkout.
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        do {
            try process.run()
        } catch {
            throw TestFailure("schemathesis could not start (pip install schemathesis; .ci/run does): \(error)")
        }
        let deadline = ContinuousClock.now + .seconds(600)
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                throw TestFailure("schemathesis ran for more than 10 minutes")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        try? handle.close()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        if text.contains("No module named schemathesis") {
            throw TestFailure("schemathesis (st) is not installed: pip install schemathesis (.ci/run does)")
        }
        return (process.terminationStatus, text)
    }
}
