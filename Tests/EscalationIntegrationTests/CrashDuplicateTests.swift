import EscalationServer
import Foundation
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// What a crash while sending repeats: the real daemon, killed with SIGKILL again and again
    /// while it drains a queue into the real SMTP server.
    @Suite("Crashes while sending")
    struct CrashDuplicateTests {
        /// The most messages the deliverer has in flight (`DelivererConfiguration.inFlightLimit`:
        /// being sent, or sent and their outcome not yet committed), the most one crash may repeat.
        static let inFlight = DelivererConfiguration().inFlightLimit

        @Test("a drain of 3,000 emails, the daemon killed with SIGKILL five times and restarted: every message arrives, and each kill repeats at most the messages in flight")
        func killedDuringDrain() async throws {
            let count = 3000, kills = 5
            let started = ContinuousClock.now
            let server = try SMTPServer()
            try await server.start()
            let settings = try await TestPostgres.freshDatabase()
            let env = ["ESCALATED_SMTP_URL": "smtp://127.0.0.1:\(server.port)", "ESCALATED_MAIL_FROM": "escalated@example.org",
                       "ESCALATED_DELIVERY_LEASE": "1s"]
            // One email each to the land agency, written when the first daemon routes them.
            try await TestPostgres.insertIssues(settings, count: count)
            let received = ReceivedDeliveries(folder: server.folder)
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
                // Let the server finish a message whose last line the daemon wrote before it died.
                try await Task.sleep(for: .milliseconds(200))
                // Rows the dead daemon still held (leased, outcome not recorded) go out again after
                // the lease; the ones it had sent since the previous kill are this kill's repeats.
                let held = try await TestPostgres.strings(settings, """
                    SELECT id::text FROM escalated.outbox WHERE state = 'pending' AND leased_by LIKE '%:\(daemon.process.processIdentifier)'
                    """).compactMap { Int64($0) }
                let copies = received.copies()
                repeatedPerKill.append(held.filter { copies[$0, default: 0] > copiesBefore[$0, default: 0] }.count)
                copiesBefore = copies
            }
            let daemon = try DaemonProcess.serve(settings, environment: env)
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE state = 'sent'", equals: Int64(count), timeout: .seconds(60))
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)

            let copies = received.copies()
            let repeated = copies.values.reduce(0, +) - copies.count
            print("crash duplicates: \(repeated) repeated over \(kills) kills (per kill: \(repeatedPerKill.map(String.init).joined(separator: ", "))); at most \(Self.inFlight) in flight; \(ContinuousClock.now - started)")
            #expect(copies.count == count, "every message arrived")
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE state <> 'sent'") == 0)
            #expect(repeated == repeatedPerKill.reduce(0, +), "each repeat is one the dead daemon had sent and not recorded")
            for (kill, n) in repeatedPerKill.enumerated() {
                #expect(n <= Self.inFlight, "kill \(kill + 1) repeated \(n) messages")
            }
        }
    }
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
