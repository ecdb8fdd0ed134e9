import AsyncHTTPClient
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
    /// The HTTP API over real HTTP (HummingbirdTesting's live mode), with the router running.
    @Suite("HTTP API")
    struct APITests {
        static func app(_ settings: DatabaseSettings, configure: (inout DaemonConfiguration) -> Void = { _ in }) throws -> some ApplicationProtocol {
            var config = DaemonConfiguration(database: settings)
            config.httpPort = 0
            configure(&config)
            return try Daemon.buildApplication(config, logger: testLogger)
        }

        static let json: HTTPFields = [.contentType: "application/json"]

        static func object(_ body: ByteBuffer) throws -> [String: Any] {
            let value: Any
            do {
                value = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
            } catch {
                throw TestFailure("not JSON (\(error)): \(String(buffer: body).prefix(500))")
            }
            guard let object = value as? [String: Any] else { throw TestFailure("not a JSON object: \(String(buffer: body))") }
            return object
        }

        static func errorField(_ body: ByteBuffer) throws -> String? {
            (try object(body)["error"] as? [String: Any])?["field"] as? String
        }

        @Test("POST stores a report, answers 201 with it, and the router assigns it to the agency and the area member")
        func createAndRoute() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await Self.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                try await InProcessDaemon.waitForListener(settings, count: 1)
                let body = #"{"unit":"N1","sector":"land","severity":"urgent","title":"Chậm cấp giấy chứng nhận","description":"Hồ sơ tồn đọng\nđã 3 tuần","reporter":"UBND xã"}"#
                let created = try await client.execute(uri: "/v1/issues", method: .post, headers: Self.json, body: ByteBuffer(string: body))
                #expect(created.status == .created)
                let issue = try Self.object(created.body)
                let id = try #require(issue["id"] as? Int)
                #expect(created.headers[.location] == "/v1/issues/\(id)")
                #expect(issue["title"] as? String == "Chậm cấp giấy chứng nhận")
                #expect(issue["description"] as? String == "Hồ sơ tồn đọng\nđã 3 tuần")
                #expect(issue["severity"] as? String == "urgent")
                #expect(issue["unit"] as? String == "N1")
                #expect(["reported", "routed"].contains(issue["state"] as? String))

                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 1, timeout: .seconds(10))
                let shown = try Self.object(try await client.execute(uri: "/v1/issues/\(id)", method: .get).body)
                #expect(shown["state"] as? String == "routed")
                let assignments = try #require(shown["assignments"] as? [[String: Any]])
                #expect(assignments.map { "\($0["role"]!):\($0["kind"]!):\($0["code"]!)" } == ["agency:agency:land-dept", "member:person:m-north"])
                let events = try #require(shown["events"] as? [[String: Any]])
                #expect(events.map { $0["kind"] as? String } == ["reported", "routed"])
                #expect(events.map { $0["actor"] as? String } == ["admin", "router"], "the reported event names the token's actor")
                #expect(shown["version"] as? Int == 2)
                #expect(shown["routed_at"] is String)
                // An action that takes no fields may come without a body (and without a Content-Type);
                // its answer's ETag is sent as it is, not percent-encoded.
                let acknowledged = try await client.execute(uri: "/v1/issues/\(id)/acknowledge", method: .post, headers: [.ifMatch: "\"2\""])
                #expect(acknowledged.status == .ok, "\(String(buffer: acknowledged.body))")
                #expect(acknowledged.headers[.eTag] == "\"3\"")
                #expect(try Self.object(acknowledged.body)["state"] as? String == "acknowledged")
            }
        }

        @Test("Vietnamese text is stored and returned exactly, normalised to NFC")
        func vietnameseNFC() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let composed = "Trường Tiểu học Bản Lầu thiếu phòng học"
            let decomposed = composed.decomposedStringWithCanonicalMapping
            #expect(Array(decomposed.utf8) != Array(composed.utf8))
            try await Self.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                let payload = try JSONSerialization.data(withJSONObject: ["unit": "N1", "sector": "land", "title": decomposed, "reporter": decomposed])
                let created = try await client.execute(uri: "/v1/issues", method: .post, headers: Self.json, body: ByteBuffer(bytes: payload))
                #expect(created.status == .created)
                let issue = try Self.object(created.body)
                #expect(Array((issue["title"] as? String ?? "").utf8) == Array(composed.utf8))
                let stored = try await TestPostgres.strings(settings, "SELECT title FROM escalated.issues")
                #expect(stored.map { Array($0.utf8) } == [Array(composed.utf8)])
            }
        }

        @Test("bad input answers 4xx naming the field, and stores nothing")
        func badInput() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let good = #""unit":"N1","sector":"land","title":"t""#
            let cases: [(String, [UInt8], HTTPFields, HTTPResponse.Status, String?)] = [
                ("unknown field", Array(#"{\#(good),"colour":"red"}"#.utf8), Self.json, .badRequest, "colour"),
                ("wrong type", Array(#"{"unit":"N1","sector":"land","title":5}"#.utf8), Self.json, .badRequest, "title"),
                ("boolean as string", Array(#"{"unit":"N1","sector":"land","title":true}"#.utf8), Self.json, .badRequest, "title"),
                ("missing title", Array(#"{"unit":"N1","sector":"land"}"#.utf8), Self.json, .badRequest, "title"),
                ("empty title", Array(#"{"unit":"N1","sector":"land","title":"   "}"#.utf8), Self.json, .unprocessableContent, "title"),
                ("title too long", Array(#"{"unit":"N1","sector":"land","title":"\#(String(repeating: "ệ", count: 201))"}"#.utf8), Self.json, .unprocessableContent, "title"),
                ("NUL in title", Array(#"{"unit":"N1","sector":"land","title":"a\u0000b"}"#.utf8), Self.json, .unprocessableContent, "title"),
                ("bad severity (outside the schema's enumeration)", Array(#"{\#(good),"severity":"critical"}"#.utf8), Self.json, .badRequest, "severity"),
                ("unknown unit", Array(#"{"unit":"ZZ9","sector":"land","title":"t"}"#.utf8), Self.json, .unprocessableContent, "unit"),
                ("malformed unit", Array(#"{"unit":"N 1","sector":"land","title":"t"}"#.utf8), Self.json, .unprocessableContent, "unit"),
                ("unknown sector", Array(#"{"unit":"N1","sector":"rivers","title":"t"}"#.utf8), Self.json, .unprocessableContent, "sector"),
                ("description too long", Array(#"{\#(good),"description":"\#(String(repeating: "a", count: 10_001))"}"#.utf8), Self.json, .unprocessableContent, "description"),
                ("invalid UTF-8", Array(#"{"unit":"N1","sector":"land","title":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), Self.json, .badRequest, "body"),
                ("not JSON", Array("unit=N1".utf8), Self.json, .badRequest, "body"),
                ("a JSON array", Array("[1,2]".utf8), Self.json, .badRequest, "body"),
                ("empty body", [], Self.json, .badRequest, "body"),
                ("body over 64 KiB", Array(#"{\#(good),"description":"\#(String(repeating: "a", count: 70_000))"}"#.utf8), Self.json, .contentTooLarge, "body"),
                ("wrong content type", Array(#"{\#(good)}"#.utf8), [.contentType: "text/plain"], .unsupportedMediaType, "Content-Type"),
                ("bad idempotency key", Array(#"{\#(good)}"#.utf8), [.contentType: "application/json", HTTPField.Name("Idempotency-Key")!: "has space"], .badRequest, "Idempotency-Key"),
            ]
            try await Self.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                for (name, body, headers, status, field) in cases {
                    let response = try await client.execute(uri: "/v1/issues", method: .post, headers: headers, body: ByteBuffer(bytes: body))
                    #expect(response.status == status, "\(name): \(String(buffer: response.body))")
                    #expect(try Self.errorField(response.body) == field, "\(name): \(String(buffer: response.body))")
                    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true, "\(name)")
                }
                let show = try await client.execute(uri: "/v1/issues/abc", method: .get)
                #expect(show.status == .badRequest)
                #expect(try Self.errorField(show.body) == "id")
                let missing = try await client.execute(uri: "/v1/issues/987654321", method: .get)
                #expect(missing.status == .notFound)
                // Outside the API's paths the web app answers, with a page.
                let page = try await client.execute(uri: "/nothing", method: .get)
                #expect(page.status == .notFound && page.headers[.contentType]?.hasPrefix("text/html") == true)
                for (uri, method) in [("/v1/nothing", HTTPRequest.Method.get), ("/v1/issues", .patch)] {
                    let unknown = try await client.execute(uri: uri, method: method)
                    #expect(unknown.status == .notFound && unknown.headers[.contentType]?.hasPrefix("application/json") == true, "\(method) \(uri)")
                    #expect(try Self.object(unknown.body)["error"] != nil)
                }
                for (query, field) in [("state=lost", "state"), ("limit=0", "limit"), ("limit=201", "limit"), ("cursor=zzz", "cursor"),
                                       ("unit=a%20b", "unit"), ("colour=red", "colour"), ("unit=N1&unit=N2", "unit")] {
                    let response = try await client.execute(uri: "/v1/issues?\(query)", method: .get)
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(try Self.errorField(response.body) == field, "\(query): \(String(buffer: response.body))")
                }
            }
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues") == 0)
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.events") == 0)
        }

        @Test("an Idempotency-Key makes a retry return the same issue; reusing it for another report is refused")
        func idempotency() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await Self.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                var headers = Self.json
                headers[HTTPField.Name("Idempotency-Key")!] = "report-2026-0001"
                let body = ByteBuffer(string: #"{"unit":"S1","sector":"health","title":"Thiếu bác sĩ"}"#)
                let first = try await client.execute(uri: "/v1/issues", method: .post, headers: headers, body: body)
                let second = try await client.execute(uri: "/v1/issues", method: .post, headers: headers, body: body)
                #expect(first.status == .created)
                #expect(second.status == .created)
                #expect(first.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
                #expect(second.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
                #expect(try Self.object(first.body)["id"] as? Int == Self.object(second.body)["id"] as? Int)
                let other = try await client.execute(uri: "/v1/issues", method: .post, headers: headers,
                                                     body: ByteBuffer(string: #"{"unit":"S1","sector":"health","title":"Another"}"#))
                #expect(other.status == .unprocessableContent)
                #expect(try Self.errorField(other.body) == "Idempotency-Key")
                // Concurrent retries of one request still store one issue.
                headers[HTTPField.Name("Idempotency-Key")!] = "report-2026-0002"
                let concurrentHeaders = headers
                let ids = try await withThrowingTaskGroup(of: Int?.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            let response = try await client.execute(uri: "/v1/issues", method: .post, headers: concurrentHeaders, body: body)
                            return try Self.object(response.body)["id"] as? Int
                        }
                    }
                    return try await group.reduce(into: Set<Int?>()) { $0.insert($1) }
                }
                #expect(ids.count == 1 && ids.first! != nil)
            }
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues") == 2)
        }

        @Test("concurrent reports are committed in groups: each answered with its own issue, fewer transactions than reports, a bad one refused alone")
        func groupedIntake() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await Self.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                try await InProcessDaemon.waitForListener(settings, count: 1)
                // Several connections at once (the test client has one): AsyncHTTPClient's shared pool.
                let port = try #require(client.port)
                let http = HTTPClient.shared
                let answers = try await withThrowingTaskGroup(of: (Int, HTTPResponse.Status, Int?, String?).self) { group in
                    for n in 0..<200 {
                        group.addTask {
                            let unit = n % 50 == 7 ? "ZZ9" : "N1"
                            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/issues")
                            request.method = .POST
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.headers.add(name: "Authorization", value: "Bearer \(client.token)")
                            request.body = .bytes(ByteBuffer(string: #"{"unit":"\#(unit)","sector":"land","title":"Báo cáo \#(n)"}"#))
                            let response = try await http.execute(request, timeout: .seconds(30))
                            let body = try await response.body.collect(upTo: 1 << 20)
                            let object = try? Self.object(body)
                            return (n, HTTPResponse.Status(code: Int(response.status.code)), object?["id"] as? Int, object?["title"] as? String)
                        }
                    }
                    return try await group.reduce(into: [(Int, HTTPResponse.Status, Int?, String?)]()) { $0.append($1) }
                }
                let refused = answers.filter { $0.0 % 50 == 7 }
                #expect(refused.allSatisfy { $0.1 == .unprocessableContent }, "\(refused)")
                let stored = answers.filter { $0.0 % 50 != 7 }
                #expect(stored.allSatisfy { $0.1 == .created && $0.3 == "Báo cáo \($0.0)" }, "\(stored.prefix(3))")
                #expect(Set(stored.compactMap(\.2)).count == 196)
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues") == 196)
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.events WHERE kind = 'reported'") == 196)
                let transactions = try await TestPostgres.scalar(settings, "SELECT count(DISTINCT xmin::text) FROM escalated.events WHERE kind = 'reported'")
                #expect(transactions < 196, "grouped into \(transactions) transactions")
                print("grouped intake: 196 reports committed in \(transactions) transactions")
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 196, timeout: .seconds(20))
            }
        }

        @Test("lists filter by unit, sector, agency and state, newest first, and cursors visit every issue once")
        func listing() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await Self.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                try await InProcessDaemon.waitForListener(settings, count: 1)
                for (unit, sector) in [("N1", "land"), ("N2", "land"), ("S1", "health"), ("N1", "health"), ("S1", "land"), ("N2", "land"), ("N1", "land")] {
                    let response = try await client.execute(uri: "/v1/issues", method: .post, headers: Self.json,
                                                            body: ByteBuffer(string: #"{"unit":"\#(unit)","sector":"\#(sector)","title":"t"}"#))
                    #expect(response.status == .created)
                }
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 7, timeout: .seconds(10))
                func ids(_ query: String) async throws -> ([Int], String?) {
                    let response = try await client.execute(uri: "/v1/issues?\(query)", method: .get)
                    #expect(response.status == .ok, "\(query)")
                    let page = try Self.object(response.body)
                    let items = page["items"] as? [[String: Any]] ?? []
                    return (items.compactMap { $0["id"] as? Int }, page["next_cursor"] as? String)
                }
                #expect(try await ids("").0 == [7, 6, 5, 4, 3, 2, 1])
                #expect(try await ids("unit=N1").0 == [7, 4, 1])
                #expect(try await ids("sector=health").0 == [4, 3])
                #expect(try await ids("agency=health-dept").0 == [4, 3])
                #expect(try await ids("agency=land-dept&unit=S1").0 == [5])
                #expect(try await ids("state=routed").0.count == 7)
                #expect(try await ids("state=reported").0.isEmpty)
                var seen: [Int] = []
                var cursor: String?
                repeat {
                    let page = try await ids("limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
                    seen += page.0
                    cursor = page.1
                } while cursor != nil
                #expect(seen == [7, 6, 5, 4, 3, 2, 1])
            }
        }

        @Test("/healthz and /readyz report the process, the database, the listener and the schema")
        func health() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await Self.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
                try await InProcessDaemon.waitForListener(settings, count: 1)
                let ready = try await client.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .ok)
                let body = try Self.object(ready.body)
                #expect(body["ready"] as? Bool == true)
                #expect(body["migrations"] as? String == "current")
                #expect(body["listener"] as? String == "connected")
                #expect(try await client.execute(uri: "/metrics", method: .get).status == .ok)
                // A schema that lost a migration is not ready.
                try await TestPostgres.execute(settings, "DELETE FROM escalated.schema_migrations")
                let notReady = try await client.execute(uri: "/readyz", method: .get)
                #expect(notReady.status == .serviceUnavailable)
                #expect((try Self.object(notReady.body)["migrations"] as? String)?.contains("lacks migration 1") == true)
            }
        }
    }
}
