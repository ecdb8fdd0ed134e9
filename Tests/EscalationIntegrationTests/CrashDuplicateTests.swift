import EscalationCore
import EscalationServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// What a crash while sending repeats: the real daemon, killed with SIGKILL again and again
    /// while it drains a queue into the real SMTP server or a webhook receiver.
    @Suite("Crashes while sending")
    struct CrashDuplicateTests {
        /// The most messages the deliverer has in flight (`DelivererConfiguration.inFlightLimit`:
        /// being sent, or sent and their outcome not yet committed), the most one crash may repeat.
        static let inFlight = DelivererConfiguration().inFlightLimit

        @Test("a drain of 3,000 emails, the daemon killed with SIGKILL five times and restarted: every message arrives, and each kill repeats at most the messages in flight")
        func killedDuringEmailDrain() async throws {
            let server = try SMTPServer()
            try await server.start()
            let received = ReceivedDeliveries(folder: server.folder)
            try await Self.drain(count: 3000, kills: 5, channel: "emails", averageAtMost: DelivererConfiguration().concurrency, environment: [
                "ESCALATED_SMTP_URL": "smtp://127.0.0.1:\(server.port)", "ESCALATED_MAIL_FROM": "escalated@example.org",
            ]) { received.copies() }
        }

        @Test("a drain of 1,000 webhooks, the daemon killed with SIGKILL three times and restarted: every post arrives, and each kill repeats an Idempotency-Key only for the posts in flight")
        func killedDuringWebhookDrain() async throws {
            let keys = ReceivedKeys()
            let router = Router()
            router.post("/hook") { request, _ -> Response in
                _ = try await request.body.collect(upTo: 1 << 20)
                let key = request.headers[HTTPField.Name("Idempotency-Key")!] ?? ""
                let id = Int64(key.replacingOccurrences(of: "escalated-delivery-", with: "")) ?? -1
                keys.counts.withLock { $0[id, default: 0] += 1 }
                return Response(status: .ok)
            }
            try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).testLive { hook in
                let port = try #require(hook.port)
                var directory = TestDirectory.make()
                directory.agencies[0].emails = []
                directory.agencies[0].webhook = "http://127.0.0.1:\(port)/hook"
                try await Self.drain(count: 1000, kills: 3, channel: "webhooks", directory: directory,
                                     environment: ["ESCALATED_WEBHOOK_SECRET": "a-shared-secret-of-32-bytes-long"]) { keys.counts.withLock { $0 } }
            }
        }

        /// Queues `count` messages (one to the land agency per issue, written when the first daemon
        /// routes them), kills the daemon `kills` times spread over the drain and restarts it, then
        /// checks with `copies` (how many copies of each delivery the receiver has had so far) that
        /// every message arrived and that each kill repeated at most the messages in flight.
        /// `averageAtMost`, when given, bounds the repeats per kill on average: the SMTP server
        /// keeps a message only as its transaction ends, a moment before the daemon reads the
        /// answer, so an email's repeats are mostly outcomes waiting for a free recording
        /// statement, and those are few.
        /// (A webhook receiver has a post before the daemon reads the answer: the posts being
        /// sent at the kill, up to 8, are repeats too, so no tighter bound than the limit holds.)
        static func drain(count: Int, kills: Int, channel: String, averageAtMost: Int? = nil, directory: Directory = TestDirectory.make(),
                          environment: [String: String], copies: @Sendable () -> [Int64: Int]) async throws {
            let started = ContinuousClock.now
            let settings = try await TestPostgres.freshDatabase(directory: directory)
            let env = environment.merging(["ESCALATED_DELIVERY_LEASE": "1s"]) { $1 }
            try await TestPostgres.insertIssues(settings, count: count)
            var copiesBefore: [Int64: Int] = [:]
            var repeatedPerKill: [Int] = []
            for kill in 1...kills {
                let daemon = try DaemonProcess.serve(settings, environment: env)
                // Kills spread over the drain, whatever the build's speed, at a random point of a round.
                let target = Int64(count * kill / (kills + 1))
                try await TestPostgres.waitUntil(settings, "SELECT least(count(*), \(target)) FROM escalated.outbox WHERE state = 'sent'",
                                                 equals: target, timeout: .seconds(30))
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...40)))
                daemon.signal(SIGKILL)
                _ = try await daemon.waitForExit()
                // Let the receiver finish a message whose last bytes the daemon wrote before it died.
                try await Task.sleep(for: .milliseconds(200))
                // Rows the dead daemon still held (leased, outcome not recorded) go out again after
                // the lease; the ones it had sent since the previous kill are this kill's repeats.
                let held = try await TestPostgres.strings(settings, """
                    SELECT id::text FROM escalated.outbox WHERE state = 'pending' AND leased_by LIKE '%:\(daemon.process.processIdentifier)'
                    """).compactMap { Int64($0) }
                let now = copies()
                repeatedPerKill.append(held.filter { now[$0, default: 0] > copiesBefore[$0, default: 0] }.count)
                copiesBefore = now
            }
            let daemon = try DaemonProcess.serve(settings, environment: env)
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE state = 'sent'", equals: Int64(count), timeout: .seconds(60))
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)

            let final = copies()
            let repeated = final.values.reduce(0, +) - final.count
            print("crash duplicates (\(channel)): \(repeated) repeated over \(kills) kills (per kill: \(repeatedPerKill.map(String.init).joined(separator: ", "))); at most \(inFlight) in flight; \(ContinuousClock.now - started)")
            #expect(final.count == count, "every message arrived")
            #expect(final[-1] == nil, "every message named its delivery")
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE state <> 'sent'") == 0)
            #expect(repeated == repeatedPerKill.reduce(0, +), "each repeat is one the dead daemon had sent and not recorded")
            if let averageAtMost {
                #expect(repeated <= averageAtMost * kills, "\(repeated) repeats over \(kills) kills: more than \(averageAtMost) per kill on average")
            }
            for (kill, n) in repeatedPerKill.enumerated() {
                #expect(n <= inFlight, "kill \(kill + 1) repeated \(n) messages")
            }
        }
    }
}

/// How many posts of each delivery (by its `Idempotency-Key`) a webhook receiver has had.
final class ReceivedKeys: Sendable {
    let counts = Mutex<[Int64: Int]>([:])
}

/// The delivery ids in the Message-IDs of the messages an `SMTPServer` wrote into its folder,
/// each file read once.
final class ReceivedDeliveries: @unchecked Sendable {
    let folder: String
    private var seen: [String: Int64] = [:]

    init(folder: String) {
        self.folder = folder
    }

    /// How many copies of each delivery the server has received so far.
    func copies() -> [Int64: Int] {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasSuffix(".eml") && seen[name] == nil {
            guard let text = try? String(contentsOfFile: folder + "/" + name, encoding: .utf8) else { continue }
            seen[name] = Self.delivery(in: text)
        }
        var copies: [Int64: Int] = [:]
        for id in seen.values { copies[id, default: 0] += 1 }
        return copies
    }

    /// The `N` of `Message-ID: <escalated.I.dN@domain>`, or -1.
    static func delivery(in message: String) -> Int64 {
        // "\r\n" is one Character in Swift: no split on "\n" sees it.
        for line in message.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { break }
            guard line.lowercased().hasPrefix("message-id:"), let d = line.range(of: ".d"), let at = line.range(of: "@") else { continue }
            return Int64(line[d.upperBound..<at.lowerBound]) ?? -1
        }
        return -1
    }
}
