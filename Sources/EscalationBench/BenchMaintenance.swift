import EscalationServer
import EscalationStore
import Foundation
import Logging
import PostgresNIO

extension Bench {
    /// Retention: `rows` sent deliveries a year old, deleted by the maintenance pass the daemon
    /// runs (its own code and settings: batches of 1,000, 20 ms apart), first alone, then while the
    /// daemon routes `rate` reports a second; and routing's commit-to-routed latency with and
    /// without the pass running.
    func maintenance(rows: Int, rate: Int, seconds: Int, into report: inout BenchReport) async throws {
        let configuration = MaintenanceConfiguration()
        try await seedOldDeliveries(rows)
        let (alone, aloneTime) = try await timedPass(configuration)

        // The daemon routes; its own maintenance is off so that only the measured pass runs.
        let daemon = try startDaemon(environment: ["ESCALATED_MAINTENANCE_INTERVAL": "off"])
        try await daemon.waitForListener(self)
        let quietStart = try await maxID()
        let quietLate = try await insertAtRate(rate, seconds: seconds)
        try await waitUntilRouted(Int(quietStart) + rate * seconds, timeout: .seconds(60))
        let quiet = try await latencies(after: quietStart)

        try await seedOldDeliveries(rows)
        let busyStart = try await maxID()
        let (busyLate, pass) = try await withThrowingTaskGroup(of: (Duration?, (Int, Duration, Int64)?).self) { group in
            group.addTask { (try await self.insertAtRate(rate, seconds: seconds), nil) }
            group.addTask {
                let (removed, time) = try await self.timedPass(configuration)
                return (nil, (removed, time, try await self.maxID()))
            }
            var late = Duration.zero
            var pass = (0, Duration.zero, Int64(0))
            for try await (l, p) in group {
                if let l { late = l }
                if let p { pass = p }
            }
            return (late, pass)
        }
        try await waitUntilRouted(Int(busyStart) + rate * seconds, timeout: .seconds(60))
        let busy = try await latencies(after: busyStart, through: pass.2)
        let busyAll = try await latencies(after: busyStart)
        try await daemon.stop()

        let batch = "batches of \(configuration.batchSize), \(configuration.pause.milliseconds) ms apart"
        report.add("maintenance: \(rows) sent deliveries a year old, pass alone", "\(alone) removed in \(aloneTime.milliseconds) ms = \(Self.rate(alone, aloneTime)) rows/s (\(batch))")
        report.add("maintenance: the same while routing \(rate) reports/s", "\(pass.0) removed in \(pass.1.milliseconds) ms = \(Self.rate(pass.0, pass.1)) rows/s")
        report.add("maintenance: routing without it, p50 / p99 / max", String(format: "%.2f / %.2f / %.2f ms (%ld issues; inserter at most %lld ms late)",
                                                                     quiet.p50, quiet.p99, quiet.max, quiet.count, quietLate.milliseconds))
        report.add("maintenance: routing during the pass, p50 / p99 / max", String(format: "%.2f / %.2f / %.2f ms (%ld issues; inserter at most %lld ms late)",
                                                                        busy.p50, busy.p99, busy.max, busy.count, busyLate.milliseconds))
        report.add("maintenance: routing p99 during the pass / without", String(format: "%.2f (whole %d s window: %.2f ms)", busy.p99 / max(quiet.p99, 0.001), seconds, busyAll.p99))
    }

    /// `rows` outbox rows sent a year ago (routing emails of issue ids that do not exist: maintenance does not look).
    func seedOldDeliveries(_ rows: Int) async throws {
        _ = try await scalar("""
            WITH ins AS (
                INSERT INTO escalated.outbox (issue_id, kind, recipient_kind, recipient_code, channel, state, attempts, created_at, next_attempt_at, sent_at, transport, last_answer)
                SELECT g, 'routed', 'agency', 'SNNMT', 'email', 'sent', 1, now() - interval '1 year', now() - interval '1 year',
                       now() - interval '1 year' + g * interval '10 ms', 'smtp', '250 2.0.0 Ok: queued'
                  FROM generate_series(1, \(rows)) g
                RETURNING 1)
            SELECT count(*)::float8 FROM ins
            """)
        _ = try await scalar("VACUUM ANALYZE escalated.outbox")
    }

    /// One maintenance pass with `configuration` (its own pool); returns the sent deliveries removed and the time it took.
    func timedPass(_ configuration: MaintenanceConfiguration) async throws -> (Int, Duration) {
        let logger = self.logger
        return try await Daemon.withClient(settings, applicationName: "escalated-bench-maintenance", logger: logger) { client in
            let service = MaintenanceService(store: MaintenanceStore(client: client), configuration: configuration, logger: logger)
            let started = ContinuousClock.now
            let removed = try await service.runPass()
            return (removed[.sentDeliveries] ?? 0, ContinuousClock.now - started)
        }
    }

    static func rate(_ count: Int, _ time: Duration) -> String {
        (Double(count) / max(Double(time.milliseconds) / 1000, 0.001)).formatted0
    }
}
