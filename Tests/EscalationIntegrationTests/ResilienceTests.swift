import EscalationServer
import EscalationStore
import Foundation
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// Crashes and lost connections, against the real `escalated` executable.
    @Suite("Crashes, restarts and lost connections")
    struct ResilienceTests {
        static let listenerPID = """
            SELECT coalesce(max(pid), 0) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'escalated-listener'
            """

        @Test("killing the listening backend loses nothing: a catch-up routes what came meanwhile, and NOTIFY works again")
        func listenerBackendKilled() async throws {
            let settings = try await TestPostgres.freshDatabase()
            // A one-minute poll: within this test only a notification or the catch-up can route anything.
            let daemon = try DaemonProcess.serve(settings, environment: ["ESCALATED_POLL_INTERVAL": "60s"])
            try await InProcessDaemon.waitForListener(settings, count: 1)
            try await TestPostgres.insertIssues(settings, count: 1)
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 1, timeout: .seconds(5))

            let first = try await TestPostgres.scalar(settings, Self.listenerPID)
            try await TestPostgres.execute(settings, "SELECT pg_terminate_backend(\(first))")
            // Committed while nobody listens: only the catch-up after the reconnect can find these.
            try await TestPostgres.insertIssues(settings, count: 5)
            let deadline = ContinuousClock.now + .seconds(10)
            var second: Int64 = 0
            while ContinuousClock.now < deadline {
                second = try await TestPostgres.scalar(settings, Self.listenerPID)
                if second != 0 && second != first { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(second != 0 && second != first, "the listener did not reconnect; log:\n\(daemon.log)")
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 6, timeout: .seconds(5))
            // And the new connection hears NOTIFY.
            try await TestPostgres.insertIssues(settings, count: 5)
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 11, timeout: .seconds(5))
            #expect(try await TestPostgres.checkNothingHalfRouted(settings) == 11)
            #expect(daemon.log.contains("listener connection lost; reconnecting"))
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
        }

        static let openBatch = """
            SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'escalated' AND state = 'idle in transaction'
               AND xact_start < clock_timestamp() - interval '300 milliseconds'
            """

        /// One worker, batches of 100; each held batch sits in its transaction (test hook).
        static let holding = ["ESCALATED_BATCH_SIZE": "100", "ESCALATED_ROUTER_WORKERS": "1"]

        @Test("a daemon killed with SIGKILL while holding a claimed batch loses nothing; a restart routes everything once")
        func killedMidBatch() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await TestPostgres.insertIssues(settings, count: 250)
            let doomed = try DaemonProcess.serve(settings, environment: Self.holding.merging(["ESCALATED_TEST_HOLD_AFTER_CLAIM": "60s"]) { $1 })
            // The first 100 take the latency path (no transaction to hold); the router then claims the
            // next 100 and sits inside that transaction.
            try await TestPostgres.waitUntil(settings, Self.openBatch, equals: 1, timeout: .seconds(20))
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'issues' AND l.mode = 'RowShareLock'") >= 1)
            doomed.signal(SIGKILL)
            _ = try await doomed.waitForExit()
            #expect(doomed.process.terminationReason == .uncaughtSignal)
            try await TestPostgres.waitUntil(settings, Self.openBatch, equals: 0, timeout: .seconds(10))
            // Only the batch committed before the claim is routed; the held one rolled back whole.
            #expect(try await TestPostgres.checkNothingHalfRouted(settings) == 100)

            let successor = try DaemonProcess.serve(settings)
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 250, timeout: .seconds(20))
            #expect(try await TestPostgres.checkNothingHalfRouted(settings) == 250)
            successor.signal(SIGTERM)
            #expect(try await successor.waitForExit() == 0)
        }

        @Test("SIGTERM mid-batch: the batch in hand commits, no new one starts, nothing is half-routed, exit 0")
        func gracefulShutdownMidBatch() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await TestPostgres.insertIssues(settings, count: 350)
            let daemon = try DaemonProcess.serve(settings, environment: Self.holding.merging(["ESCALATED_TEST_HOLD_AFTER_CLAIM": "2s"]) { $1 })
            try await TestPostgres.waitUntil(settings, Self.openBatch, equals: 1, timeout: .seconds(20))
            daemon.signal(SIGTERM)
            let started = ContinuousClock.now
            #expect(try await daemon.waitForExit(timeout: .seconds(20)) == 0, "\(daemon.log)")
            #expect(ContinuousClock.now - started < .seconds(10))
            // The first 100 before the held batch, then the held batch itself; the last 150 wait.
            #expect(try await TestPostgres.checkNothingHalfRouted(settings) == 200)
            #expect(daemon.log.contains("router stopped"))
        }

        @Test("three daemons started over a backlog route 3,000 issues exactly once")
        func threeDaemonsBacklog() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await TestPostgres.insertIssues(settings, count: 3000)
            let daemons = try (0..<3).map { _ in try DaemonProcess.serve(settings, environment: ["ESCALATED_BATCH_SIZE": "50"]) }
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 3000, timeout: .seconds(60))
            #expect(try await TestPostgres.checkNothingHalfRouted(settings) == 3000)
            for daemon in daemons { daemon.signal(SIGTERM) }
            for daemon in daemons { #expect(try await daemon.waitForExit() == 0) }
        }
    }
}
