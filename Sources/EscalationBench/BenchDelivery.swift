import EscalationServer
import EscalationStore
import Foundation
import Logging
import PostgresCluster
import PostgresNIO

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The email scenarios: a queue of emails drained into a real local SMTP server (aiosmtpd, run
/// by the script the tests use), and the event-to-send latency under light load.
extension Bench {
    /// Starts the SMTP server script (`tools/smtp_server.py`, shipped in the binary, unless
    /// `script` names another) on a free port, writing messages into a temporary folder.
    func startSMTPServer(script: String?) async throws -> (Process, Int, String) {
        let script = try script ?? EmbeddedTools.write("smtp_server.py", into: folder)
        let port = try PostgresCluster.freeLoopbackPort()
        let folder = NSTemporaryDirectory() + "escalated-bench-smtp-\(getpid())-\(port)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "\(port)", folder]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw BenchError("the SMTP server (\(script)) exited; is aiosmtpd installed (`pip install aiosmtpd`)?") }
            if PostgresCluster.loopbackPortAccepts(port) { return (process, port, folder) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("the SMTP server did not start")
    }

    func email(count: Int, script: String?, into report: inout BenchReport) async throws {
        let (server, port, folder) = try await startSMTPServer(script: script)
        defer {
            kill(server.processIdentifier, SIGTERM)
            server.waitUntilExit()
            try? FileManager.default.removeItem(atPath: folder)
        }
        let environment = ["ESCALATED_SMTP_URL": "smtp://127.0.0.1:\(port)", "ESCALATED_MAIL_FROM": "escalated@example.org"]

        // Queue: `count` routed issues and one email each to their agency, written in one transaction
        // with the daemon listening, as routing writes them.
        let daemon = try startDaemon(environment: environment)
        try await daemon.waitForListener(self)
        try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            try await client.withConnection { connection in
                // Written as routed already (triggers off for this load only), so the router leaves them alone.
                try await connection.query("SET session_replication_role = replica", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: """
                    WITH u AS (SELECT array_agg(code ORDER BY code) AS codes FROM escalated.units),
                         s AS (SELECT array_agg(code ORDER BY code) AS codes FROM escalated.sectors),
                         i AS (
                            INSERT INTO escalated.issues (unit_code, sector_code, title, state, route_revision, routed_at)
                            SELECT u.codes[1 + g % array_length(u.codes, 1)], s.codes[1 + g % array_length(s.codes, 1)],
                                   'Báo cáo khó khăn số ' || g, 'routed', 1, now()
                              FROM generate_series(1, \(count)) g, u, s
                            RETURNING id, sector_code)
                    INSERT INTO escalated.outbox (issue_id, kind, recipient_kind, recipient_code, channel)
                    SELECT i.id, 'routed', 'agency', se.agency_code, 'email' FROM i JOIN escalated.sectors se ON se.code = i.sector_code
                    """), logger: logger)
                try await connection.query("RESET session_replication_role", logger: logger)
                try await connection.query(WakeTopic.outbox.notifyQuery, logger: logger)
            }
        }
        let started = ContinuousClock.now
        try await waitUntil("SELECT count(*)::float8 FROM escalated.outbox WHERE kind = 'routed' AND state = 'sent'", atLeast: count, timeout: .seconds(600))
        let wall = ContinuousClock.now - started
        let span = try await scalar("SELECT extract(epoch FROM max(sent_at) - min(sent_at))::float8 FROM escalated.outbox WHERE state = 'sent'")
        let failed = try await scalar("SELECT count(*)::float8 FROM escalated.outbox WHERE attempts > 1 OR state = 'dead'")
        let received = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".eml") }.count
        let rss = daemon.residentMegabytes()

        // Light load: 10 reports a second for 20 s, each routed and its email sent.
        let before = try await scalar("SELECT coalesce(max(id), 0)::float8 FROM escalated.outbox")
        try await Daemon.withClient(settings, applicationName: "escalated-bench-insert", logger: logger) { client in
            for n in 0..<200 {
                try await client.query("INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('LC-BX-01', 'land', \("light \(n)"))", logger: logger)
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        try await waitUntil("SELECT count(*)::float8 FROM escalated.outbox WHERE id > \(Int(before)) AND state = 'sent'", atLeast: 200, timeout: .seconds(60))
        let latency = try await latencyRow("""
            SELECT (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000)::float8,
                   (percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000)::float8,
                   (max(extract(epoch FROM sent_at - created_at)) * 1000)::float8
              FROM escalated.outbox WHERE id > \(Int(before))
            """)
        try await daemon.stop()
        let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        report.add("email: \(count.formatted()) queued, sent to aiosmtpd", "\(received) received; \(Int(failed)) retried or dead")
        report.add("email: rate (first to last send)", String(format: "%.0f messages/s (wall %.1f s)", Double(count) / max(span, 0.001), seconds), ">= 500/s")
        report.add("email: event-to-send at 10 reports/s, p50 / p99 / max", String(format: "%.1f / %.1f / %.1f ms", latency.0, latency.1, latency.2), "p99 <= 1 s")
        report.add("email: daemon resident memory after", String(format: "%.1f MB", rss))
    }

    func waitUntil(_ sql: String, atLeast expected: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if Int(try await scalar(sql)) >= expected { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("timed out waiting for `\(sql)`")
    }

    func latencyRow(_ sql: String) async throws -> (Double, Double, Double) {
        try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var result = (0.0, 0.0, 0.0)
            for try await row in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode((Double?, Double?, Double?).self) {
                result = (row.0 ?? 0, row.1 ?? 0, row.2 ?? 0)
            }
            return result
        }
    }
}
