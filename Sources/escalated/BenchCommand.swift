import ArgumentParser
import EscalationServer
import EscalationStore
import Foundation
import Logging
import PostgresCluster
import PostgresNIO

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `escalated bench`: measures routing on a private PostgreSQL, with the real daemon as a child.
///
/// Latencies come from PostgreSQL's commit timestamps (`track_commit_timestamp = on`): the
/// `reported` event commits with the report, the `routed` event with the routing transaction,
/// so commit-to-routed is the difference of the two commit times, on one clock.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure routing (backlog, steady load, insert ceiling, memory) and escalation (steps due among many open issues, a burst).",
        discussion: "Starts its own PostgreSQL (fsync on) in a temporary folder and runs `escalated serve` as a child process. Build in release mode: `swift run -c release escalated bench`."
    )

    @Option(help: "Issues in the backlog scenario.") var issues: Int = 100_000
    @Option(help: "Seconds of the steady and ceiling scenarios.") var seconds: Int = 30
    @Option(help: "Reports per second in the steady scenario.") var rate: Int = 200
    @Option(help: "Concurrent single-row inserters in the ceiling scenario.") var inserters: Int = 8
    @Option(help: "Router batch size given to the daemon (the daemon's default).") var batchSize: Int = 1000
    @Option(help: "Scenarios to run: all, or a comma-separated list of backlog, steady, ceiling, escalation, burst, email, intake.") var scenario: String = "all"
    @Option(help: "Open issues in the escalation scenario, comma-separated (one run each).") var open: String = "100000,1000000"
    @Option(help: "Steps falling due within one minute in the escalation scenario.") var due: Int = 10_000
    @Option(help: "Steps due at one instant in the burst scenario.") var burst: Int = 50_000
    @Option(help: "Emails queued in the email scenario.") var emails: Int = 10_000
    @Option(help: "Concurrent clients in the intake scenario (HTTP, then single-row SQL).") var clients: Int = 64
    @Option(help: "The SMTP server script the email scenario runs (aiosmtpd).") var smtpScript: String = "Tests/EscalationIntegrationTests/Support/smtp_server.py"
    @Flag(help: "Also run the steady load on the backlog's database, right after it (dead index entries not yet vacuumed).") var afterBacklog = false

    func validate() throws {
        guard issues >= 1000, issues <= 10_000_000 else { throw ValidationError("--issues must be from 1000 to 10000000") }
        guard (5...600).contains(seconds) else { throw ValidationError("--seconds must be from 5 to 600") }
        guard (1...5000).contains(rate) else { throw ValidationError("--rate must be from 1 to 5000") }
        guard (1...64).contains(inserters) else { throw ValidationError("--inserters must be from 1 to 64") }
        let known: Set<String> = ["all", "backlog", "steady", "ceiling", "escalation", "burst", "email", "intake"]
        for name in scenario.split(separator: ",") where !known.contains(String(name)) {
            throw ValidationError("--scenario '\(name)' is not one of all, backlog, steady, ceiling, escalation, burst, email, intake")
        }
        guard (1...90).contains(clients) else { throw ValidationError("--clients must be from 1 to 90") }
        guard (100...1_000_000).contains(emails) else { throw ValidationError("--emails must be from 100 to 1000000") }
        for text in open.split(separator: ",") {
            guard let n = Int(text), (1000...10_000_000).contains(n) else { throw ValidationError("--open takes numbers from 1000 to 10000000, comma-separated") }
        }
        guard (1...1_000_000).contains(due) else { throw ValidationError("--due must be from 1 to 1000000") }
        guard (1...1_000_000).contains(burst) else { throw ValidationError("--burst must be from 1 to 1000000") }
    }

    func run() async throws {
        let logger = CLI.bootstrapLogging(level: .warning)
        let wanted = Set(scenario.split(separator: ",").map(String.init))
        let all = wanted.contains("all")
        let folder = NSTemporaryDirectory() + "escalated-bench-\(getpid())"
        let cluster = try PostgresCluster.start(
            dataDirectory: folder,
            settings: ["track_commit_timestamp": "on", "max_connections": "100", "shared_buffers": "256MB",
                       "shared_preload_libraries": "pg_stat_statements"],
            logger: logger
        )
        defer {
            cluster.stop()
            try? FileManager.default.removeItem(atPath: folder)
        }
        var report = BenchReport()
        report.machine = Self.machine()

        // Each scenario gets a new database with the sample directory, so none inherits another's
        // dead rows; `--after-backlog` measures the steady load on the backlog's database instead.
        func database(_ name: String) async throws -> Bench {
            _ = try cluster.psql("CREATE DATABASE \(name)")
            let settings = try DatabaseSettings(url: cluster.url(database: name))
            try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
                try await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", logger: logger)
                try await Migrator(migrations: try Migrator.bundled()).migrate(client: client, logger: logger)
                _ = try await DirectoryStore(client: client).importDirectory(try SampleDirectory.load(), logger: logger)
            }
            return Bench(settings: settings, logger: logger, batchSize: batchSize)
        }
        if all || wanted.contains("backlog") {
            let bench = try await database("backlog")
            try await bench.backlog(count: issues, into: &report)
            if afterBacklog {
                try await bench.steady(rate: rate, seconds: seconds, label: "steady after the backlog", into: &report)
            }
        }
        if all || wanted.contains("steady") {
            try await database("steady").steady(rate: rate, seconds: seconds, label: "steady", into: &report)
        }
        if all || wanted.contains("ceiling") {
            try await database("ceiling").ceiling(inserters: inserters, seconds: seconds, into: &report)
        }
        if all || wanted.contains("escalation") {
            for (index, text) in open.split(separator: ",").enumerated() {
                try await database("escalation\(index)").escalation(open: Int(text)!, due: due, into: &report)
            }
        }
        if all || wanted.contains("burst") {
            try await database("burst").burst(count: burst, into: &report)
        }
        if all || wanted.contains("intake") {
            try await database("intake").intake(clients: clients, seconds: seconds, into: &report)
        }
        if all || wanted.contains("email") {
            try await database("email").email(count: emails, script: smtpScript, into: &report)
        }
        print(report.render())
    }

    static func machine() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("MemTotal") }?
            .split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { "\($0 / 1024 / 1024) GiB" } ?? "?"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores (\(cpu)), \(memory)"
    }
}

/// What the bench measured, rendered as one table.
struct BenchReport {
    var machine = ""
    var rows: [(String, String, String)] = []

    mutating func add(_ metric: String, _ value: String, _ target: String = "") {
        rows.append((metric, value, target))
    }

    func render() -> String {
        let width0 = max(6, rows.map(\.0.count).max() ?? 0)
        let width1 = max(5, rows.map(\.1.count).max() ?? 0)
        var out = "escalated bench on \(machine)\n\n"
        out += "| " + "metric".padded(width0) + " | " + "value".padded(width1) + " | target |\n"
        out += "|" + String(repeating: "-", count: width0 + 2) + "|" + String(repeating: "-", count: width1 + 2) + "|--------|\n"
        for (metric, value, target) in rows {
            out += "| " + metric.padded(width0) + " | " + value.padded(width1) + " | \(target) |\n"
        }
        return out
    }
}

/// The scenarios. Each starts the daemon as a child process and stops it after.
struct Bench {
    let settings: DatabaseSettings
    let logger: Logger
    let batchSize: Int

    func startDaemon() throws -> ChildDaemon {
        try ChildDaemon(settings: settings, batchSize: batchSize)
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
        throw CLIError("the backlog was not routed within \(timeout)")
    }

    /// Latency percentiles (ms) of commit(routed) − commit(reported) for issues with id > `after`,
    /// and the medians of its two parts: report commit → routing write statement (NOTIFY, wake-up,
    /// BEGIN, claim) and routing write statement → routing commit (`routed_at` is stamped by the write).
    func latencies(after: Int64) async throws -> (p50: Double, p99: Double, max: Double, count: Int, toWrite: Double, toCommit: Double) {
        let sql = """
            WITH l AS (
                SELECT (extract(epoch FROM pg_xact_commit_timestamp(r.xmin) - pg_xact_commit_timestamp(p.xmin)) * 1000)::float8 AS ms,
                       (extract(epoch FROM i.routed_at - pg_xact_commit_timestamp(p.xmin)) * 1000)::float8 AS to_write,
                       (extract(epoch FROM pg_xact_commit_timestamp(r.xmin) - i.routed_at) * 1000)::float8 AS to_commit
                  FROM escalated.events p JOIN escalated.events r ON r.issue_id = p.issue_id AND r.kind = 'routed'
                  JOIN escalated.issues i ON i.id = p.issue_id
                 WHERE p.kind = 'reported' AND p.issue_id > \(after)
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
        let interval = Duration.nanoseconds(1_000_000_000 / rate)
        let settings = self.settings
        let logger = self.logger
        let lateness = try await Daemon.withClient(settings, applicationName: "escalated-bench-insert", logger: logger) { client in
            let clock = ContinuousClock()
            let start = clock.now
            var late = Duration.zero
            for i in 0..<total {
                let due = start + interval * i
                if clock.now < due { try await Task.sleep(until: due, clock: clock) } else { late = max(late, clock.now - due) }
                try await client.query("""
                    INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('LC-BX-01', 'land', \("steady \(i)"))
                    """, logger: logger)
            }
            return late
        }
        try await waitUntilRouted(Int(after) + total, timeout: .seconds(60))
        let l = try await latencies(after: after)
        try await daemon.stop()
        report.add("\(label): reports at \(rate)/s for \(seconds) s", "\(l.count) routed (inserter at most \(lateness.milliseconds) ms behind schedule)")
        report.add("\(label): commit-to-routed p50", String(format: "%.2f ms", l.p50), "<= 3 ms")
        report.add("\(label): commit-to-routed p99", String(format: "%.2f ms", l.p99), "<= 10 ms")
        report.add("\(label): commit-to-routed max", String(format: "%.2f ms", l.max))
        report.add("\(label): median split", String(format: "%.2f ms to the routing write, %.2f ms from it to commit", l.toWrite, l.toCommit))
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
    static func insertSingleRows(_ client: PostgresClient, for window: Duration, label: String, logger: Logger) async throws -> Int {
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

/// The daemon under test: `escalated serve` in a child process.
final class ChildDaemon {
    let process = Process()

    init(settings: DatabaseSettings, batchSize: Int, environment extra: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["serve"]
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = settings.url
        env["ESCALATED_HTTP"] = "127.0.0.1:0"
        env["ESCALATED_LOG_LEVEL"] = "warning"
        env["ESCALATED_BATCH_SIZE"] = "\(batchSize)"
        for (key, value) in extra { env[key] = value }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    func waitForListener(_ bench: Bench) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if try await bench.scalar("SELECT count(*)::float8 FROM pg_stat_activity WHERE application_name = 'escalated-listener'") >= 1 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CLIError("the daemon did not start listening within 30 s")
    }

    /// VmRSS of the daemon, in MB (10^6 bytes).
    func residentMegabytes() -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let kb = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) } ?? 0
        return kb * 1024 / 1_000_000
    }

    func stop() async throws {
        kill(process.processIdentifier, SIGTERM)
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// A scenario that failed must not leave its daemon behind.
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

extension String {
    func padded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

extension Double {
    var formatted0: String { String(format: "%.0f", self) }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
