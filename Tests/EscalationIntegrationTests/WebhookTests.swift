import EscalationCore
import EscalationDelivery
import EscalationServer
import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

extension IntegrationTests {
    /// Webhooks against a real HTTP receiver (Hummingbird, on loopback) that checks signatures.
    @Suite("Webhooks")
    struct WebhookTests {
        static let secret = "a-shared-secret-of-32-bytes-long"

        /// What the receiver saw.
        final class Received: Sendable {
            let requests = Mutex<[(path: String, key: String, body: Data)]>([])
            let badSignatures = Mutex(0)
            let calls = Mutex(0)
        }

        /// `/hook`: the first call is too slow (a timeout), the second answers 500, then 200.
        /// `/bad`: always 400.
        static func receiver(_ received: Received) -> some ApplicationProtocol {
            let router = Router()
            router.post("/:path") { request, context -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                let data = Data(body.readableBytesView)
                let timestamp = Int(request.headers[HTTPField.Name("X-Escalated-Timestamp")!] ?? "") ?? 0
                let signature = request.headers[HTTPField.Name("X-Escalated-Signature")!] ?? ""
                if signature != WebhookTransport.signature(secret: Self.secret, timestamp: timestamp, body: data)
                    || abs(Date().timeIntervalSince1970 - Double(timestamp)) > 300 {
                    received.badSignatures.withLock { $0 += 1 }
                    return Response(status: .unauthorized)
                }
                let path = context.parameters.get("path") ?? ""
                let key = request.headers[HTTPField.Name("Idempotency-Key")!] ?? ""
                received.requests.withLock { $0.append((path, key, data)) }
                if path == "bad" { return Response(status: .badRequest) }
                let call = received.calls.withLock { value in value += 1; return value }
                if call == 1 { try await Task.sleep(for: .seconds(2)) }
                return Response(status: call == 2 ? .internalServerError : .ok)
            }
            return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        }

        @Test("webhooks are signed and carry the issue; a timeout and a 500 are retried under one Idempotency-Key; a 400 dead-letters at once")
        func signedRetriedDeadLettered() async throws {
            let received = Received()
            try await Self.receiver(received).testLive { hook in
                let port = try #require(hook.port)
                let settings = try await TestPostgres.freshDatabase()
                var directory = TestDirectory.make()
                directory.agencies[0].emails = []
                directory.agencies[0].webhook = "http://127.0.0.1:\(port)/hook"
                directory.agencies[1].webhook = "http://127.0.0.1:\(port)/bad"
                let withHooks = directory
                try await TestPostgres.withClient(settings) { _ = try await DirectoryStore(client: $0).importDirectory(withHooks, logger: testLogger) }
                try await InProcessDaemon.with(settings, configure: { config in
                    var webhook = WebhookSettings(secret: Self.secret)
                    webhook.timeout = .seconds(1)
                    config.deliverer.webhook = webhook
                    config.deliverer.retry = RetryPolicy(initialSeconds: 0.1, maximumSeconds: 0.2, maximumAttempts: 10)
                    config.deliverer.publicURL = "https://escalated.example.org"
                }) { _ in
                    try await TestPostgres.insertIssues(settings, count: 1, sector: "land")
                    try await TestPostgres.insertIssues(settings, count: 1, sector: "health")
                    try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE channel = 'webhook' AND state <> 'pending'", equals: 2, timeout: .seconds(30))
                }
                #expect(try await TestPostgres.strings(settings, """
                    SELECT recipient_code || ' ' || state || ' ' || attempts || ' ' || split_part(last_answer, ' ', 1)
                      FROM escalated.outbox WHERE channel = 'webhook' ORDER BY id
                    """) == ["land-dept sent 3 200", "health-dept dead 1 400"])
                #expect(received.badSignatures.withLock { $0 } == 0)
                let requests = received.requests.withLock { $0 }
                let hooks = requests.filter { $0.path == "hook" }
                #expect(hooks.count == 3)
                #expect(Set(hooks.map(\.key)).count == 1 && hooks[0].key.hasPrefix("escalated-delivery-"))
                let last = try #require((try? JSONSerialization.jsonObject(with: hooks.last?.body ?? Data())) as? [String: Any])
                let issue = try #require(last["issue"] as? [String: Any])
                #expect(issue["title"] as? String == "report 1")
                #expect(issue["unit_name"] as? String == "Xã Bắc 1")
                #expect(issue["url"] as? String == "https://escalated.example.org/v1/issues/1")
                #expect(last["kind"] as? String == "routed")
                #expect((last["recipient"] as? [String: Any])?["code"] as? String == "land-dept")
            }
        }

        @Test("the signature is HMAC-SHA256 over the timestamp and the body, as the README's example computes it")
        func signature() {
            // printf '1750000000.{"a":1}' | openssl dgst -sha256 -hmac 'a-shared-secret-of-32-bytes-long'
            #expect(WebhookTransport.signature(secret: Self.secret, timestamp: 1_750_000_000, body: Data(#"{"a":1}"#.utf8))
                    == "v1=" + Self.opensslHMAC(#"1750000000.{"a":1}"#))
        }

        /// The same HMAC computed by openssl, an independent implementation.
        static func opensslHMAC(_ message: String) -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl", "dgst", "-sha256", "-hmac", secret]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            guard (try? process.run()) != nil else { return "openssl is not installed" }
            input.fileHandleForWriting.write(Data(message.utf8))
            try? input.fileHandleForWriting.close()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return text.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        }
    }
}
