import ArgumentParser
import EscalationBench
import Logging

/// `escalated bench`: the shipped benchmark (EscalationBench), with the options as flags.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure routing (backlog, steady load, insert ceiling, memory), escalation (steps due among many open issues, a burst), email delivery, HTTP intake, the web app and maintenance.",
        discussion: "Starts its own PostgreSQL (fsync on) in a temporary folder and runs `escalated serve` as a child process. Build in release mode: `swift run -c release escalated bench`."
    )

    @Option(help: "Issues in the backlog scenario.") var issues: Int = 100_000
    @Option(help: "Seconds of the steady, ceiling and intake scenarios.") var seconds: Int = 30
    @Option(help: "Reports per second in the steady scenario.") var rate: Int = 200
    @Option(help: "Concurrent single-row inserters in the ceiling scenario.") var inserters: Int = 8
    @Option(help: "Router batch size given to the daemon (the daemon's default).") var batchSize: Int = 1000
    @Option(help: "Scenarios to run: all, or a comma-separated list of \(BenchmarkOptions.scenarios.joined(separator: ", ")).") var scenario: String = "all"
    @Option(help: "Open issues in the escalation scenario, comma-separated (one run each).") var open: String = "100000,1000000"
    @Option(help: "Steps falling due within one minute in the escalation scenario.") var due: Int = 10_000
    @Option(help: "Steps due at one instant in the burst scenario.") var burst: Int = 50_000
    @Option(help: "Emails queued in the email scenario.") var emails: Int = 10_000
    @Option(help: "Concurrent clients in the intake scenario (HTTP, then single-row SQL).") var clients: Int = 64
    @Option(help: "Old sent deliveries the maintenance scenario deletes.") var oldDeliveries: Int = 200_000
    @Option(help: "The SMTP server script the email scenario runs (aiosmtpd; default: tools/smtp_server.py, shipped in the binary).") var smtpScript: String?
    @Option(help: "Issues of history in the dashboard scenario (ten events each).") var history: Int = 1_000_000
    @Flag(help: "Also run the steady load on the backlog's database, right after it (dead index entries not yet vacuumed).") var afterBacklog = false

    var options: BenchmarkOptions {
        var o = BenchmarkOptions()
        o.issues = issues
        o.seconds = seconds
        o.rate = rate
        o.inserters = inserters
        o.batchSize = batchSize
        o.scenarios = Set(scenario.split(separator: ",").map(String.init))
        // A number that does not parse is out of range, so the check below names the flag.
        o.open = open.split(separator: ",").map { Int($0) ?? 0 }
        o.due = due
        o.burst = burst
        o.emails = emails
        o.clients = clients
        o.oldDeliveries = oldDeliveries
        o.smtpScript = smtpScript
        o.afterBacklog = afterBacklog
        o.history = history
        return o
    }

    func validate() throws {
        if let problem = options.problem() { throw ValidationError(problem) }
    }

    func run() async throws {
        let report = try await Benchmark.run(options, logger: CLI.bootstrapLogging(level: .warning))
        print(report.render())
    }
}
