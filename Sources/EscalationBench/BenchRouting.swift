import EscalationServer
import EscalationStore
import Foundation
import Logging
import PostgresCluster
import PostgresNIO

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The scenarios. Each starts the daemon as a child process and stops it after.
struct Bench {
    let settings: DatabaseSettings
    let logger: Logger
    let batchSize: Int
    /// The daemon's executable.
    let executable: URL
    /// The benchmark's temporary folder (the private cluster's), for the files scenarios write.
    let folder: String

    func startDaemon(environment: [String: String] = [:]) throws -> ChildDaemon {
        try ChildDaemon(executable: executable, settings: settings, batchSize: batchSize, environment: environment)
    }

    func scalar(_ sql: String) async throws -> Double {
        try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var value = 0.0
            for try await v in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Double?.self) {
                value = v ?? 0
            }
            return value
        }
    }

    func waitUntilRouted(_ expected: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            // Cheap first (a small partial index); the full count only once nothing is left.
            if Int(try await scalar("SELECT count(*)::float8 FROM escalated.issues WHERE state = 'reported'")) == 0,
               Int(try await scalar("SELECT count(*)::float8 FROM escalated.issues")) >= expected { return }
        }
        throw BenchError("the backlog was not routed within \(timeout)")
    }

    /// Latency percentiles (ms) of commit(routed) − commit(reported) for issues with id > `after` (up to `through`),
    /// and the medians of its two parts: report commit → routing write statement (NOTIFY, wake-up,
    /// BEGIN, claim) and routing write statement → routing commit (`routed_at` is stamped by the write).
    func latencies(after: Int64, through: Int64 = .max) async throws -> (p50: Double, p99: Double, max: Double, count: Int, toWrite: Double, toCommit: Double) {
        let sql = """
            WITH l AS (
                SELECT (extract(epoch FROM pg_xact_commit_timestamp(r.xmin) - pg_xact_commit_timestamp(p.xmin)) * 1000)::float8 AS ms,
                       (extract(epoch FROM i.routed_at - pg_xact_commit_timestamp(p.xmin)) * 1000)::float8 AS to_write,
                       (extract(epoch FROM pg_xact_commit_timestamp(r.xmin) - i.routed_at) * 1000)::float8 AS to_commit
                  FROM escalated.events p JOIN escalated.events r ON r.issue_id = p.issue_id AND r.kind = 'routed'
                  JOIN escalated.issues i ON i.id = p.issue_id
                 WHERE p.kind = 'reported' AND p.issue_id > \(after) AND p.issue_id <= \(through)
            )
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms),
                   max(ms), count(*)::float8,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY to_write), percentile_cont(0.5) WITHIN GROUP (ORDER BY to_commit) FROM l
            """
        return try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var result = (0.0, 0.0, 0.0, 0, 0.0, 0.0)
            for try await (p50, p99, max, count, toWrite, toCommit) in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                .decode((Double?, Double?, Double?, Double, Double?, Double?).self) {
                result = (p50 ?? 0, p99 ?? 0, max ?? 0, Int(count), toWrite ?? 0, toCommit ?? 0)
            }
            return result
        }
    }

    func maxID() async throws -> Int64 {
        Int64(try await scalar("SELECT coalesce(max(id), 0)::float8 FROM escalated.issues"))
    }

    // MARK: Backlog

    func backlog(count: Int, into report: inout BenchReport) async throws {
        let after = try await maxID()
        var remaining = count
        while remaining > 0 {
            let chunk = min(remaining, 20_000)
            _ = try await scalar("""
                WITH u AS (SELECT array_agg(code ORDER BY code) AS codes FROM escalated.units),
                     s AS (SELECT array_agg(code ORDER BY code) AS codes FROM escalated.sectors),
                     ins AS (
                        INSERT INTO escalated.issues (unit_code, sector_code, severity, title)
                        SELECT u.codes[1 + g % array_length(u.codes, 1)], s.codes[1 + g % array_length(s.codes, 1)],
                               CASE WHEN g % 10 = 0 THEN 'urgent' ELSE 'normal' END, 'Báo cáo khó khăn số ' || g
                          FROM generate_series(1, \(chunk)) g, u, s
                        RETURNING 1)
                SELECT count(*)::float8 FROM ins
                """)
            remaining -= chunk
        }
        _ = try await scalar("VACUUM ANALYZE escalated.issues")
        let started = ContinuousClock.now
        let daemon = try startDaemon()
        try await waitUntilRouted(Int(after) + count, timeout: .seconds(600))
        let wall = ContinuousClock.now - started
        let span = try await scalar("""
            SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin)) - min(pg_xact_commit_timestamp(xmin)))::float8
              FROM escalated.events WHERE kind = 'routed' AND issue_id > \(after)
            """)
        let batches = try await scalar("SELECT count(DISTINCT xmin::text)::float8 FROM escalated.events WHERE kind = 'routed' AND issue_id > \(after)")
        let rss = daemon.residentMegabytes()
        try await daemon.stop()
        let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        // The span runs from the first batch's commit to the last's; add one batch's share for the first.
        let perBatch = batches > 1 ? span / (batches - 1) : span
        let rate = Double(count) / max(span + perBatch, 0.001)
        report.add("backlog: issues routed", "\(count) in \(batches.formatted0) transactions")
        report.add("backlog: routing rate (first to last commit)", "\(rate.formatted0) issues/s", ">= 15,000/s")
        report.add("backlog: wall time incl. daemon start", String(format: "%.2f s (%.0f issues/s)", seconds, Double(count) / seconds))
        report.add("daemon resident memory after backlog", String(format: "%.1f MB", rss), "<= 64 MB")
    }

    // MARK: Steady load

    func steady(rate: Int, seconds: Int, label: String, into report: inout BenchReport) async throws {
        let daemon = try startDaemon()
        try await daemon.waitForListener(self)
        let after = try await maxID()
        let total = rate * seconds
        let lateness = try await insertAtRate(rate, seconds: seconds)
        try await waitUntilRouted(Int(after) + total, timeout: .seconds(60))
        let l = try await latencies(after: after)
        try await daemon.stop()
        report.add("\(label): reports at \(rate)/s for \(seconds) s", "\(l.count) routed (inserter at most \(lateness.milliseconds) ms behind schedule)")
        report.add("\(label): commit-to-routed p50", String(format: "%.2f ms", l.p50), "<= 3 ms")
        report.add("\(label): commit-to-routed p99", String(format: "%.2f ms", l.p99), "<= 10 ms")
        report.add("\(label): commit-to-routed max", String(format: "%.2f ms", l.max))
        report.add("\(label): median split", String(format: "%.2f ms to the routing write, %.2f ms from it to commit", l.toWrite, l.toCommit))
    }

    /// Commits `rate` single-row reports a second for `seconds`, each its own transaction, on a
    /// fixed schedule; returns how far behind it the inserter fell at worst.
    func insertAtRate(_ rate: Int, seconds: Int) async throws -> Duration {
        let interval = Duration.nanoseconds(1_000_000_000 / rate)
        let logger = self.logger
        return try await Daemon.withClient(settings, applicationName: "escalated-bench-insert", logger: logger) { client in
            let clock = ContinuousClock()
            let start = clock.now
            var late = Duration.zero
            for i in 0..<(rate * seconds) {
                let due = start + interval * i
                if clock.now < due { try await Task.sleep(until: due, clock: clock) } else { late = max(late, clock.now - due) }
                try await client.query("""
                    INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('LC-BX-01', 'land', \("steady \(i)"))
                    """, logger: logger)
            }
            return late
        }
    }

    // MARK: Ceiling

    func ceiling(inserters: Int, seconds: Int, into report: inout BenchReport) async throws {
        let daemon = try startDaemon()
        try await daemon.waitForListener(self)
        let after = try await maxID()
        let settings = self.settings
        let logger = self.logger
        let window = Duration.seconds(seconds)
        let startedAt = Date()
        let inserted = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<inserters {
                group.addTask {
                    try await Daemon.withClient(settings, applicationName: "escalated-bench-insert", logger: logger) { client in
                        try await Bench.insertSingleRows(client, for: window, label: "ceiling \(worker)", logger: logger)
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        let endedAt = Date()
        let backlogAtEnd = try await scalar("SELECT count(*)::float8 FROM escalated.issues WHERE state = 'reported'")
        let drainStart = ContinuousClock.now
        try await waitUntilRouted(Int(after) + inserted, timeout: .seconds(120))
        let drain = ContinuousClock.now - drainStart
        let elapsed = endedAt.timeIntervalSince(startedAt)
        let routedInWindow = try await scalar("""
            SELECT count(*)::float8 FROM escalated.events
             WHERE kind = 'routed' AND issue_id > \(after)
               AND pg_xact_commit_timestamp(xmin) <= '\(endedAt.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))'::timestamptz
            """)
        let l = try await latencies(after: after)
        try await daemon.stop()
        let insertRate = Double(inserted) / elapsed
        let routedRate = routedInWindow / elapsed
        report.add("ceiling: \(inserters) single-row inserters, \(seconds) s", "\(inserted) inserted, \(insertRate.formatted0)/s")
        report.add("ceiling: routed during the window", "\(routedRate.formatted0)/s = \(String(format: "%.1f", routedRate / insertRate * 100))% of the insert rate", ">= 95%")
        report.add("ceiling: backlog at the end", "\(Int(backlogAtEnd)) issues = \(String(format: "%.3f", backlogAtEnd / max(routedRate, 1))) s of work (drained in \(drain.milliseconds) ms)", "< 1 s")
        report.add("ceiling: commit-to-routed p50 / p99", String(format: "%.2f ms / %.2f ms", l.p50, l.p99))
    }
}

extension Bench {
    /// Commits single-row reports (each its own transaction and NOTIFY) for `window`; returns how many.
    static func insertSingleRows(_ client: Database, for window: Duration, label: String, logger: Logger) async throws -> Int {
        let end = ContinuousClock.now + window
        var n = 0
        while ContinuousClock.now < end {
            try await client.query("""
                INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('LC-SAPA-01', 'health', \("\(label).\(n)"))
                """, logger: logger)
            n += 1
        }
        return n
    }
}

