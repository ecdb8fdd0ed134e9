import EscalationServer
import EscalationStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Runs the real application in this process (pool, listener, router, HTTP on a free port).
enum InProcessDaemon {
    /// Starts the daemon, waits until its listener is connected, runs `body` with the HTTP port,
    /// then shuts it down gracefully.
    static func with<T: Sendable>(
        _ settings: DatabaseSettings,
        configure: (inout DaemonConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (Int) async throws -> T
    ) async throws -> T {
        var config = DaemonConfiguration(database: settings)
        config.httpPort = 0
        configure(&config)
        let port = Mutex(0)
        let app = try Daemon.buildApplication(config, logger: testLogger) { bound in port.withLock { $0 = bound } }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: testLogger))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            do {
                try await waitForListener(settings, count: 1)
                let deadline = ContinuousClock.now + .seconds(10)
                while port.withLock({ $0 }) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                let value = try await body(port.withLock { $0 })
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return value
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    /// Waits until at least `count` listener connections are up on this database.
    static func waitForListener(_ settings: DatabaseSettings, count: Int64, timeout: Duration = .seconds(20)) async throws {
        try await TestPostgres.waitUntil(settings, """
            SELECT least(count(*), \(count)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'escalated-listener'
            """, equals: count, timeout: timeout)
    }
}

/// The real `escalated` executable, run as a child process (for SIGKILL and SIGTERM tests).
final class DaemonProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String

    /// The `escalated` binary built beside this test bundle.
    static var executable: String {
        let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        return folder.appendingPathComponent("escalated").path
    }

    init(arguments: [String], environment: [String: String]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestFailure("the escalated executable is not at \(Self.executable); build it with `swift build --build-tests`")
        }
        logPath = NSTemporaryDirectory() + "escalated-daemon-\(UInt32.random(in: 0...UInt32.max)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// `escalated serve` on `settings`, HTTP on a free port, plus extra environment.
    static func serve(_ settings: DatabaseSettings, environment: [String: String] = [:], arguments: [String] = []) throws -> DaemonProcess {
        try DaemonProcess(
            arguments: ["serve"] + arguments,
            environment: ["DATABASE_URL": settings.url, "ESCALATED_HTTP": "127.0.0.1:0", "ESCALATED_LOG_LEVEL": "info"].merging(environment) { $1 }
        )
    }

    /// Waits for the `serving` log line and returns its HTTP port.
    func waitForPort(timeout: Duration = .seconds(30)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = log.split(separator: "\n").first(where: { $0.contains("serving") && $0.contains("http.port=") }),
               let range = line.range(of: "http.port=") {
                let digits = line[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits), port > 0 { return port }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("the daemon did not say which port it serves on; log:\n\(log)")
    }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to exit; returns its status, or throws after `timeout`.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                signal(SIGKILL)
                throw TestFailure("the daemon did not exit within \(timeout); log:\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        unlink(logPath)
    }
}

extension DaemonProcess {
    /// `escalated serve` on `settings`, sending its emails to `smtp`; returns once it serves HTTP
    /// and its listener is connected (alone on this database).
    static func serving(_ settings: DatabaseSettings, smtp: SMTPServer) async throws -> DaemonProcess {
        let daemon = try serve(settings, environment: [
            "ESCALATED_SMTP_URL": "smtp://127.0.0.1:\(smtp.port)", "ESCALATED_MAIL_FROM": "escalated@example.org",
        ])
        _ = try await daemon.waitForPort()
        try await InProcessDaemon.waitForListener(settings, count: 1)
        return daemon
    }

    /// Sends SIGTERM and returns the exit status once the daemon has stopped.
    func terminate() async throws -> Int32 {
        signal(SIGTERM)
        return try await waitForExit()
    }
}
