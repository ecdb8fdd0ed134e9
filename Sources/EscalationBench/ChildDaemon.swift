import EscalationServer
import EscalationStore
public import Foundation
import Logging
import PostgresCluster
import PostgresNIO

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The daemon under test: `escalated serve` in a child process.
public final class ChildDaemon {
    /// This process's own executable (`escalated`, which runs the bench and the daemon alike).
    public static var ownExecutable: URL { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }

    let process = Process()

    init(executable: URL, settings: DatabaseSettings, batchSize: Int, environment extra: [String: String] = [:]) throws {
        process.executableURL = executable
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
        throw BenchError("the daemon did not start listening within 30 s")
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
