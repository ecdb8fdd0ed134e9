import AsyncHTTPClient
import EscalationCore
import EscalationServer
import EscalationStore
import EscalationTestSupport
import EscalationWeb
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

extension IntegrationTests {
    /// `/live` over real HTTP: a report written by SQL reaches the open stream of the agency it is
    /// routed to and not another scope's; a stream that reconnects with its Last-Event-ID gets
    /// what it missed while away.
    @Suite("Web: live stream")
    struct WebLiveTests {
        typealias Browser = WebAccountEmailTests.Browser

        /// One open `/live` stream, its text gathered as it arrives.
        final class Stream: Sendable {
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let text = Mutex("")
            let reader: Mutex<Task<Void, Never>?> = Mutex(nil)

            init(base: String, cookie: String, lastEventID: Int64? = nil) async throws {
                var request = HTTPClientRequest(url: base + "/live")
                request.headers.add(name: "Cookie", value: cookie)
                if let lastEventID { request.headers.add(name: "Last-Event-ID", value: String(lastEventID)) }
                let response = try await client.execute(request, timeout: .seconds(120))
                guard response.status == .ok, response.headers["Content-Type"].first?.hasPrefix("text/event-stream") == true else {
                    throw TestFailure("/live answered \(response.status) \(response.headers["Content-Type"])")
                }
                let task = Task { [self] in
                    do {
                        for try await chunk in response.body { self.text.withLock { $0 += String(buffer: chunk) } }
                    } catch {}
                }
                reader.withLock { $0 = task }
            }

            /// Waits until the text holds `needle`; false after `timeout`.
            func wait(for needle: String, timeout: Duration = .seconds(15)) async throws -> Bool {
                let deadline = ContinuousClock.now + timeout
                while ContinuousClock.now < deadline {
                    if text.withLock({ $0.contains(needle) }) { return true }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return false
            }

            /// The ids of the messages about `issue`.
            func ids(issue: Int64) -> [Int64] {
                text.withLock { $0 }.components(separatedBy: "\n\n").compactMap { message -> Int64? in
                    guard message.contains("\"issue\":\(issue),") else { return nil }
                    return message.split(separator: "\n").first { $0.hasPrefix("id: ") }.flatMap { Int64($0.dropFirst(4)) }
                }
            }

            func close() async throws {
                reader.withLock { $0?.cancel() }
                try await client.shutdown()
            }
        }

        @Test("a report inserted by SQL reaches the agency's open stream, not another unit's; a reconnect with Last-Event-ID replays what was missed")
        func liveStream() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings, configure: { $0.web.accounts.passwordCost = 4 }) { port in
                try await InProcessDaemon.waitForListener(settings, count: 1)
                let people: [(String, Actor)] = [("agency@example.org", Actor(kind: .agency, code: "land-dept")), ("s1@example.org", Actor(kind: .unit, code: "S1"))]
                try await TestPostgres.withClient(settings) { client in
                    let store = AccountStore(client: client)
                    for (email, scope) in people {
                        let made = try await store.create(name: "Người dùng", email: email, locale: .vi, scope: scope, invite: false, logger: testLogger)
                        _ = try await store.setPassword(secret: made.invitation, purpose: .invitation, password: "một mật khẩu đủ dài", logger: testLogger)
                    }
                }
                var cookies: [String] = []
                for (email, _) in people {
                    let browser = Browser(port: port)
                    let form = try await browser.request("/sign-in")
                    let answer = try await browser.request("/sign-in", form: ["csrf": try #require(Browser.csrf(form.body)), "email": email, "password": "một mật khẩu đủ dài"])
                    #expect(answer.status == 303)
                    cookies.append("escalated_session=\(try #require(browser.cookies["escalated_session"]))")
                    try await browser.close()
                }
                let base = "http://127.0.0.1:\(port)"
                let agency = try await Stream(base: base, cookie: cookies[0])
                let other = try await Stream(base: base, cookie: cookies[1])
                #expect(try await agency.wait(for: "retry: 2000"), "the stream opens with its retry time")

                try await TestPostgres.insertIssues(settings, count: 1, unit: "N1", sector: "land")
                let first = try await TestPostgres.scalar(settings, "SELECT max(id) FROM escalated.issues")
                #expect(try await agency.wait(for: "\"issue\":\(first),\"kind\":\"routed\""), "the agency's stream hears of the routing: \(agency.text.withLock { $0 })")
                // A heartbeat-free wait: by the time the agency has it, the feed has handed it to every stream.
                try await Task.sleep(for: .milliseconds(300))
                #expect(other.ids(issue: first).isEmpty, "another unit's stream hears nothing of it")
                let seen = try #require(agency.ids(issue: first).max())

                // Away: the stream closes; a second report comes; back with Last-Event-ID.
                try await agency.close()
                try await TestPostgres.insertIssues(settings, count: 1, unit: "N2", sector: "land")
                let second = try await TestPostgres.scalar(settings, "SELECT max(id) FROM escalated.issues")
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.issues WHERE id = \(second) AND state = 'routed'", equals: 1)
                let back = try await Stream(base: base, cookie: cookies[0], lastEventID: seen)
                #expect(try await back.wait(for: "\"issue\":\(second),\"kind\":\"routed\""), "the missed routing is replayed: \(back.text.withLock { $0 })")
                #expect(back.ids(issue: first).allSatisfy { $0 > seen }, "nothing before the Last-Event-ID is sent again")
                let ids = back.text.withLock { $0 }.split(separator: "\n").filter { $0.hasPrefix("id: ") }.compactMap { Int64($0.dropFirst(4)) }
                #expect(ids == ids.sorted() && Set(ids).count == ids.count, "ids rise, each once: \(ids)")
                // And the other unit's stream does work: its own report reaches it.
                try await TestPostgres.insertIssues(settings, count: 1, unit: "S1", sector: "land")
                let third = try await TestPostgres.scalar(settings, "SELECT max(id) FROM escalated.issues")
                #expect(try await other.wait(for: "\"issue\":\(third),"), "the unit hears of its own report")
                #expect(other.ids(issue: first).isEmpty && other.ids(issue: second).isEmpty, "and only of it")
                try await back.close()
                try await other.close()
            }
        }
    }
}
