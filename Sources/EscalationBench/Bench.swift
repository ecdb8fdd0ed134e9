import EscalationServer
import EscalationStore
public import Foundation
public import Logging
import PostgresCluster
import PostgresNIO

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What to measure and how much (the `escalated bench` command's options).
public struct BenchmarkOptions: Sendable {
    public static let scenarios = ["backlog", "steady", "ceiling", "escalation", "burst", "email", "intake", "web-pages", "web-live", "web-signin", "maintenance", "dashboard"]

    /// Issues in the backlog scenario.
    public var issues = 100_000
    /// Seconds of the steady, ceiling and intake scenarios.
    public var seconds = 30
    /// Reports per second in the steady scenario.
    public var rate = 200
    /// Concurrent single-row inserters in the ceiling scenario.
    public var inserters = 8
    /// Router batch size given to the daemon.
    public var batchSize = 1000
    /// Scenarios to run: `all`, or names from ``scenarios``.
    public var scenarios: Set<String> = ["all"]
    /// Open issues in the escalation scenario, one run each.
    public var open = [100_000, 1_000_000]
    /// Steps falling due within one minute in the escalation scenario.
    public var due = 10_000
    /// Steps due at one instant in the burst scenario.
    public var burst = 50_000
    /// Emails queued in the email scenario.
    public var emails = 10_000
    /// Concurrent clients in the intake scenario (HTTP, then single-row SQL).
    public var clients = 64
    /// The SMTP server script the email scenario runs (aiosmtpd); nil for the one shipped in the binary.
    public var smtpScript: String?
    /// Old sent deliveries the maintenance scenario deletes (twice: alone, then under routing).
    public var oldDeliveries = 200_000
    /// Issues of history in the dashboard scenario (ten events each).
    public var history = 1_000_000
    /// Reports routed with each directory in the dashboard scenario.
    public var dashboardBacklog = 50_000
    /// Also run the steady load on the backlog's database, right after it.
    public var afterBacklog = false

    public init() {}

    /// The first option out of its range, as a sentence naming the flag.
    public func problem() -> String? {
        if !(1000...10_000_000).contains(issues) { return "--issues must be from 1000 to 10000000" }
        if !(5...600).contains(seconds) { return "--seconds must be from 5 to 600" }
        if !(1...5000).contains(rate) { return "--rate must be from 1 to 5000" }
        if !(1...64).contains(inserters) { return "--inserters must be from 1 to 64" }
        let known = Set(["all"] + Self.scenarios)
        if let name = scenarios.sorted().first(where: { !known.contains($0) }) {
            return "--scenario '\(name)' is not one of all, \(Self.scenarios.joined(separator: ", "))"
        }
        if !(1...90).contains(clients) { return "--clients must be from 1 to 90" }
        if !(100...1_000_000).contains(emails) { return "--emails must be from 100 to 1000000" }
        if open.isEmpty || open.contains(where: { !(1000...10_000_000).contains($0) }) {
            return "--open takes numbers from 1000 to 10000000, comma-separated"
        }
        if !(1...1_000_000).contains(due) { return "--due must be from 1 to 1000000" }
        if !(1...1_000_000).contains(burst) { return "--burst must be from 1 to 1000000" }
        if !(1000...10_000_000).contains(oldDeliveries) { return "--old-deliveries must be from 1000 to 10000000" }
        if !(1000...5_000_000).contains(history) { return "--history must be from 1000 to 5000000" }
        return nil
    }
}

/// A benchmark that could not run to its end (a daemon that did not start, a time-out).
public struct BenchError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The shipped benchmark: routing (throughput, latency, ceiling, memory), escalation (timeliness
/// among many open issues, a burst), email delivery and HTTP intake, each on a new database of a
/// private PostgreSQL (fsync on), against the real daemon started as a child process.
///
/// Latencies come from PostgreSQL's commit timestamps (`track_commit_timestamp = on`): the
/// `reported` event commits with the report, the `routed` event with the routing transaction,
/// so commit-to-routed is the difference of the two commit times, on one clock.
public enum Benchmark {
    /// Runs the chosen scenarios and returns the report. `daemon` is the executable to run as
    /// `serve` (by default this process's own).
    public static func run(_ options: BenchmarkOptions, daemon: URL = ChildDaemon.ownExecutable, logger: Logger) async throws -> BenchReport {
        let all = options.scenarios.contains("all")
        func wanted(_ name: String) -> Bool { all || options.scenarios.contains(name) }
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
        // dead rows; `afterBacklog` measures the steady load on the backlog's database instead.
        func database(_ name: String) async throws -> Bench {
            _ = try cluster.psql("CREATE DATABASE \(name)")
            let settings = try DatabaseSettings(url: cluster.url(database: name))
            try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
                try await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", logger: logger)
                try await Migrator(migrations: try Migrator.bundled()).migrate(client: client, logger: logger)
                _ = try await DirectoryStore(client: client).importDirectory(try SampleDirectory.load(), logger: logger)
            }
            return Bench(settings: settings, logger: logger, batchSize: options.batchSize, executable: daemon, folder: folder)
        }
        if wanted("backlog") {
            let bench = try await database("backlog")
            try await bench.backlog(count: options.issues, into: &report)
            if options.afterBacklog {
                try await bench.steady(rate: options.rate, seconds: options.seconds, label: "steady after the backlog", into: &report)
            }
        }
        if wanted("steady") {
            try await database("steady").steady(rate: options.rate, seconds: options.seconds, label: "steady", into: &report)
        }
        if wanted("ceiling") {
            try await database("ceiling").ceiling(inserters: options.inserters, seconds: options.seconds, into: &report)
        }
        if wanted("escalation") {
            for (index, open) in options.open.enumerated() {
                try await database("escalation\(index)").escalation(open: open, due: options.due, into: &report)
            }
        }
        if wanted("burst") {
            try await database("burst").burst(count: options.burst, into: &report)
        }
        if wanted("intake") {
            try await database("intake").intake(clients: options.clients, seconds: options.seconds, into: &report)
        }
        if wanted("email") {
            try await database("email").email(count: options.emails, script: options.smtpScript, into: &report)
        }
        // The web app (BenchWeb.swift); web-live takes --rate and --seconds.
        if wanted("web-pages") {
            try await database("webpages").webPages(total: 1_000_000, agencyOpen: 10_000, into: &report)
        }
        if wanted("web-live") {
            try await database("weblive").webLive(streams: 200, rate: options.rate, seconds: options.seconds, into: &report)
        }
        if wanted("web-signin") {
            try await database("websignin").webSignIn(total: 100_000, agencyOpen: 1_000, into: &report)
        }
        // Retention (BenchMaintenance.swift); takes --rate and --seconds for the routing beside it.
        if wanted("maintenance") {
            try await database("maintenance").maintenance(rows: options.oldDeliveries, rate: options.rate, seconds: options.seconds, into: &report)
        }
        // National scale (BenchDashboard.swift): routing with 3,321 units beside the sample's 48,
        // alternated, then the dashboards among --history issues.
        if wanted("dashboard") {
            let sample = try await database("dashboardsample")
            let national = try await database("dashboard")
            try await national.dashboard(issues: options.history, backlog: options.dashboardBacklog, sample: sample, into: &report)
        }
        return report
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
public struct BenchReport: Sendable {
    var machine = ""
    var rows: [(String, String, String)] = []

    mutating func add(_ metric: String, _ value: String, _ target: String = "") {
        rows.append((metric, value, target))
    }

    public func render() -> String {
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

