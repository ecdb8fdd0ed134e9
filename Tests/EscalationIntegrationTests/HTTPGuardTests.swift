import AsyncHTTPClient
import EscalationCore
import EscalationServer
import EscalationStore
import EscalationWeb
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// The HTTP server under hostile clients (issue 14): stalled and trickled request heads, a
    /// stalled body and an idle keep-alive connection are closed at their deadlines, an open
    /// Server-Sent Events stream is not, and past the connection cap a connection is answered 503.
    @Suite("HTTP guard: deadlines and the connection cap")
    struct HTTPGuardTests {
        /// A raw TCP connection to the daemon: what it received, and when the daemon closed it.
        final class RawConnection: Sendable {
            let channel: any Channel
            /// Just before the connection was opened, and once it was.
            let started: ContinuousClock.Instant
            let opened: ContinuousClock.Instant
            private let box: Box

            final class Box: Sendable {
                let received = Mutex("")
                let closedAt = Mutex<ContinuousClock.Instant?>(nil)
            }

            final class Collector: ChannelInboundHandler {
                typealias InboundIn = ByteBuffer
                let box: Box
                init(box: Box) { self.box = box }
                func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                    let text = String(buffer: unwrapInboundIn(data))
                    box.received.withLock { $0 += text }
                }
            }

            init(port: Int, sending text: String = "") async throws {
                let box = Box()
                self.box = box
                started = .now
                channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(box: box)) }
                    }
                    .connect(host: "127.0.0.1", port: port).get()
                opened = .now
                channel.closeFuture.whenComplete { _ in box.closedAt.withLock { $0 = $0 ?? .now } }
                if !text.isEmpty { try await send(text) }
            }

            var received: String { box.received.withLock { $0 } }
            var closedAt: ContinuousClock.Instant? { box.closedAt.withLock { $0 } }

            func send(_ text: String) async throws {
                try await channel.writeAndFlush(ByteBuffer(string: text))
            }

            func close() async {
                try? await channel.close()
            }

            /// Waits until the daemon has closed the connection; nil after `timeout`.
            func waitClosed(timeout: Duration) async throws -> ContinuousClock.Instant? {
                let deadline = ContinuousClock.now + timeout
                while ContinuousClock.now < deadline {
                    if let closedAt { return closedAt }
                    try await Task.sleep(for: .milliseconds(10))
                }
                return closedAt
            }

            /// Waits until `needle` has been received; false after `timeout`.
            func wait(for needle: String, timeout: Duration = .seconds(5)) async throws -> Bool {
                let deadline = ContinuousClock.now + timeout
                while ContinuousClock.now < deadline {
                    if received.contains(needle) { return true }
                    try await Task.sleep(for: .milliseconds(10))
                }
                return false
            }
        }

        /// Asks `GET /healthz` every 20 ms until cancelled; the latency of each answer and the statuses that were not 200.
        static func probe(port: Int) async -> (latencies: [Duration], failures: [String]) {
            var latencies: [Duration] = []
            var failures: [String] = []
            while !Task.isCancelled {
                let start = ContinuousClock.now
                do {
                    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(10))
                    _ = try await response.body.collect(upTo: 1 << 16)
                    if response.status == .ok { latencies.append(.now - start) } else { failures.append("\(response.status)") }
                    try await Task.sleep(for: .milliseconds(20))
                } catch {
                    if !Task.isCancelled { failures.append("\(error)") }
                    break
                }
            }
            return (latencies, failures)
        }

        /// How many connections the test process may hold: each costs two descriptors here (the
        /// daemon runs in this process), and the pool, the cluster's sockets and the test's own
        /// files need some.
        static func connectionBudget(wanted: Int) -> Int {
            var limit = rlimit()
            guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return wanted }
            return max(20, min(wanted, (Int(clamping: limit.rlim_cur) - 256) / 2))
        }

        static func seconds(_ duration: Duration) -> String {
            String(format: "%.3f s", Double(duration.components.attoseconds) / 1e18 + Double(duration.components.seconds))
        }

        @Test("hundreds of stalled and trickled request heads are all closed at the header timeout, while /healthz keeps answering 200")
        func stalledHeads() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let total = Self.connectionBudget(wanted: 320)
            let trickling = total / 16
            let stalled = total - trickling
            let timeout = Duration.seconds(2)
            print("HTTP guard: holding \(stalled) stalled and \(trickling) trickling heads (ulimit -n allows \(Self.connectionBudget(wanted: .max)) here)")
            try await InProcessDaemon.with(settings, configure: {
                $0.httpLimits.headerTimeout = timeout
                $0.httpLimits.maxConnections = total + 64
            }) { port in
                try await withThrowingTaskGroup(of: (latencies: [Duration], failures: [String])?.self) { group in
                    group.addTask { await Self.probe(port: port) }
                    var connections: [RawConnection] = []
                    for index in 0..<total {
                        // A part of a request head, then nothing (or a byte every 250 ms, for the trickling ones:
                        // an idle-read timer would never fire on those, a total deadline does).
                        connections.append(try await RawConnection(port: port, sending: index < stalled ? "GET / HTTP/1.1\r\nHost: x\r\n" : "GET / HTTP/1.1\r\n"))
                    }
                    let tricklers = Array(connections[stalled...])
                    group.addTask {
                        while !Task.isCancelled, tricklers.contains(where: { $0.closedAt == nil }) {
                            for connection in tricklers where connection.closedAt == nil { try? await connection.send("X") }
                            guard (try? await Task.sleep(for: .milliseconds(250))) != nil else { break }
                        }
                        return nil
                    }
                    let deadline = ContinuousClock.now + timeout + .seconds(4)
                    while ContinuousClock.now < deadline, connections.contains(where: { $0.closedAt == nil }) {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    // A little longer with every head closed: the healthy client still answered.
                    try await Task.sleep(for: .milliseconds(300))
                    group.cancelAll()
                    var probed: (latencies: [Duration], failures: [String]) = ([], [])
                    for try await result in group { if let result { probed = result } }

                    let open = connections.filter { $0.closedAt == nil }.count
                    #expect(open == 0, "\(open) of \(total) connections were still open \(timeout + .seconds(4)) after the last was opened")
                    let lives = connections.compactMap { connection in connection.closedAt.map { $0 - connection.opened } }.sorted()
                    let early = connections.filter { connection in connection.closedAt.map { $0 - connection.opened < timeout - .milliseconds(200) } ?? false }
                    let late = connections.filter { connection in connection.closedAt.map { $0 - connection.started > timeout + .seconds(3) } ?? false }
                    #expect(early.isEmpty, "\(early.count) closed before the header timeout")
                    #expect(late.isEmpty, "\(late.count) closed later than the header timeout + 3 s")
                    #expect(connections.allSatisfy { $0.received.isEmpty }, "a stalled head is closed without an answer")
                    #expect(probed.failures.isEmpty, "the healthy client failed: \(probed.failures.prefix(5))")
                    #expect(probed.latencies.count >= 20, "the healthy client was answered \(probed.latencies.count) times")
                    let latencies = probed.latencies.sorted()
                    if let first = lives.first, let last = lives.last, let slowest = latencies.last {
                        #expect(slowest < .seconds(2), "the healthy client's slowest answer took \(slowest)")
                        print("HTTP guard: \(lives.count) of \(total) heads closed \(Self.seconds(first)) to \(Self.seconds(last)) after opening (median \(Self.seconds(lives[lives.count / 2]))) with a \(timeout) header timeout; /healthz meanwhile: \(latencies.count) answers, p50 \(Self.seconds(latencies[latencies.count / 2])), p99 \(Self.seconds(latencies[latencies.count * 99 / 100])), max \(Self.seconds(slowest))")
                    }
                }
            }
        }

        @Test("a stalled body is closed at the body timeout and an idle keep-alive connection at the idle timeout; an open /live stream outlives both, and the header timeout")
        func bodyIdleAndStream() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let (header, body, idle) = (Duration.seconds(1), Duration.seconds(2), Duration.seconds(2))
            try await InProcessDaemon.with(settings, configure: {
                $0.web.accounts.passwordCost = 4
                $0.httpLimits.headerTimeout = header
                $0.httpLimits.bodyTimeout = body
                $0.httpLimits.idleTimeout = idle
            }) { port in
                // A signed-in agency's live stream, opened first and checked last.
                try await TestPostgres.withClient(settings) { client in
                    let store = AccountStore(client: client)
                    let made = try await store.create(name: "Người dùng", email: "agency@example.org", locale: .vi,
                                                      scope: Actor(kind: .agency, code: "land-dept"), invite: false, logger: testLogger)
                    _ = try await store.setPassword(secret: made.invitation, purpose: .invitation, password: "một mật khẩu đủ dài", logger: testLogger)
                }
                let browser = WebAccountEmailTests.Browser(port: port)
                let form = try await browser.request("/sign-in")
                let answer = try await browser.request("/sign-in", form: ["csrf": try #require(WebAccountEmailTests.Browser.csrf(form.body)),
                                                                          "email": "agency@example.org", "password": "một mật khẩu đủ dài"])
                #expect(answer.status == 303)
                let cookie = "escalated_session=\(try #require(browser.cookies["escalated_session"]))"
                try await browser.close()
                let stream = try await WebLiveTests.Stream(base: "http://127.0.0.1:\(port)", cookie: cookie)
                let streamOpened = ContinuousClock.now
                #expect(try await stream.wait(for: "retry: 2000"))

                // A body promised 100 bytes, 10 sent, then nothing.
                let stalled = try await RawConnection(port: port, sending: "POST /v1/issues HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"unit\":\"N")
                // A request answered, a second one 1.5 s later (past the header timeout: idle is not header time), then nothing.
                let idler = try await RawConnection(port: port, sending: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try await idler.wait(for: "HTTP/1.1 200"), "the first request is answered: \(idler.received)")
                try await Task.sleep(for: .milliseconds(1500))
                #expect(idler.closedAt == nil, "the kept-alive connection is open 1.5 s after its answer")
                try await idler.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                let deadline = ContinuousClock.now + .seconds(5)
                while idler.received.components(separatedBy: "HTTP/1.1 200").count < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                let answered = ContinuousClock.now
                #expect(idler.received.components(separatedBy: "HTTP/1.1 200").count == 3, "the second request is answered on the same connection: \(idler.received)")

                let bodyClosed = try #require(try await stalled.waitClosed(timeout: body + .seconds(3)), "the stalled body is closed")
                #expect(bodyClosed - stalled.opened >= body - .milliseconds(200), "not before the body timeout (nor at the header timeout): \(bodyClosed - stalled.opened)")
                #expect(bodyClosed - stalled.started <= body + .seconds(3))
                let idleClosed = try #require(try await idler.waitClosed(timeout: idle + .seconds(3)), "the idle connection is closed")
                #expect(idleClosed - answered >= idle - .milliseconds(200), "not before the idle timeout: \(idleClosed - answered)")
                #expect(idleClosed - answered <= idle + .seconds(3))
                print("HTTP guard: stalled body closed after \(Self.seconds(bodyClosed - stalled.opened)) (body timeout \(body)), idle keep-alive \(Self.seconds(idleClosed - answered)) after its last answer (idle timeout \(idle))")

                // The stream, open for longer than every timeout, still delivers.
                try await Task.sleep(until: streamOpened + idle + body + .milliseconds(500))
                try await TestPostgres.insertIssues(settings, count: 1, unit: "N1", sector: "land")
                let issue = try await TestPostgres.scalar(settings, "SELECT max(id) FROM escalated.issues")
                #expect(try await stream.wait(for: "\"issue\":\(issue),\"kind\":\"routed\""),
                        "the stream opened \(Self.seconds(.now - streamOpened)) ago still delivers: \(stream.text.withLock { $0 })")
                try await stream.close()
            }
        }

        @Test("past ESCALATED_HTTP_MAX_CONNECTIONS a connection is answered 503 with Retry-After and closed, counted, warned once; once the held ones go, new ones are served")
        func connectionCap() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let cap = 20
            let daemon = try DaemonProcess.serve(settings, environment: ["ESCALATED_HTTP_MAX_CONNECTIONS": "\(cap)", "ESCALATED_HTTP_HEADER_TIMEOUT": "30s"])
            let port = try await daemon.waitForPort()
            var held: [RawConnection] = []
            for _ in 0..<cap { held.append(try await RawConnection(port: port)) }
            // Let the daemon accept all of them before the next ones come.
            try await Task.sleep(for: .milliseconds(300))
            for attempt in 1...3 {
                let refused = try await RawConnection(port: port, sending: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                let closed = try #require(try await refused.waitClosed(timeout: .seconds(3)), "connection \(cap + attempt) is closed")
                #expect(refused.received.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(refused.received)")
                #expect(refused.received.contains("Retry-After: 5\r\n") && refused.received.contains("Connection: close\r\n"), "\(refused.received)")
                #expect(closed - refused.started < .seconds(3))
            }
            #expect(held.allSatisfy { $0.closedAt == nil }, "the held connections are untouched")
            for connection in held { await connection.close() }
            // Served again once the held ones are gone.
            let deadline = ContinuousClock.now + .seconds(5)
            var status = 0
            while ContinuousClock.now < deadline {
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                status = (try? await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(5)).status.code).map { Int($0) } ?? 0
                try await client.shutdown()
                if status == 200 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(status == 200, "served again once the held connections closed")
            let metricsClient = HTTPClient(eventLoopGroupProvider: .singleton)
            let metrics = String(buffer: try await metricsClient.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(10))
                .body.collect(upTo: 1 << 22))
            try await metricsClient.shutdown()
            #expect(metrics.contains("escalated_http_connections_closed_total{reason=\"refused\"} 3"), "\(metrics.split(separator: "\n").filter { $0.contains("escalated_http") })")
            let gauge = metrics.split(separator: "\n").first { $0.hasPrefix("escalated_http_connections_open ") }
            #expect(gauge.flatMap { Double($0.split(separator: " ").last ?? "") }.map { (1...2).contains($0) } == true, "open connections while scraping: \(gauge ?? "none")")
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
            #expect(daemon.log.components(separatedBy: "HTTP connections refused").count == 2, "one warning for three refusals: \(daemon.log)")
        }
    }
}
