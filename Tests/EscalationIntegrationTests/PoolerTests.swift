import EscalationStore
import Foundation
import PostgresCluster
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A PgBouncer of the test's own (Debian's `pgbouncer`, run as `postgres`: it refuses root) in
/// front of the test server.
final class Bouncer: Sendable {
    let port: Int
    let folder: String
    private let process: Process

    static var executable: String? {
        ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init(inFrontOf of: DatabaseSettings, mode: String) throws {
        guard let executable = Self.executable else {
            throw TestFailure("pgbouncer is not installed (Debian package pgbouncer; .ci/run installs it)")
        }
        port = try PostgresCluster.freeLoopbackPort()
        folder = NSTemporaryDirectory() + "escalated-bouncer-\(getpid())-\(port)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // The daemon's startup parameters that PgBouncer does not know are dropped, as the README says to.
        let config = """
            [databases]
            * = host=\(of.host) port=\(of.port)
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = \(port)
            unix_socket_dir =
            auth_type = trust
            auth_file = \(folder)/users.txt
            admin_users = postgres
            pool_mode = \(mode)
            max_client_conn = 500
            default_pool_size = 40
            ignore_startup_parameters = jit,max_parallel_workers_per_gather,random_page_cost
            logfile = \(folder)/pgbouncer.log
            pidfile = \(folder)/pgbouncer.pid
            """
        try config.write(toFile: folder + "/pgbouncer.ini", atomically: true, encoding: .utf8)
        try "\"postgres\" \"\"\n".write(toFile: folder + "/users.txt", atomically: true, encoding: .utf8)
        var arguments = [executable, folder + "/pgbouncer.ini"]
        if getuid() == 0, let pw = getpwnam("postgres") {
            chown(folder, pw.pointee.pw_uid, pw.pointee.pw_gid)
            arguments = ["-u", "postgres", "--"] + arguments
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: getuid() == 0 ? "/usr/sbin/runuser" : executable)
        process.arguments = getuid() == 0 ? arguments : Array(arguments.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !PostgresCluster.loopbackPortAccepts(port) {
            guard Date() < deadline, process.isRunning else {
                throw TestFailure("pgbouncer did not start: \(log)")
            }
            usleep(20_000)
        }
    }

    var log: String { (try? String(contentsOfFile: folder + "/pgbouncer.log", encoding: .utf8)) ?? "" }

    /// The same database, through the bouncer.
    func settings(_ direct: DatabaseSettings) -> DatabaseSettings {
        var settings = direct
        settings.endpoints = [.init(host: "127.0.0.1", port: port)]
        return settings
    }

    func stop() {
        if let pid = try? String(contentsOfFile: folder + "/pgbouncer.pid", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), let value = Int32(pid) {
            kill(value, SIGTERM)
        }
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

extension IntegrationTests {
    /// The pool through PgBouncer, the listener straight to PostgreSQL (`ESCALATED_LISTEN_URL`).
    @Suite("Connection poolers")
    struct PoolerTests {
        @Test("through PgBouncer in session mode, with the listener connected directly: reports are routed once, woken by NOTIFY")
        func sessionMode() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let bouncer = try Bouncer(inFrontOf: settings, mode: "session")
            defer { bouncer.stop() }
            // A one-minute poll: only a notification (or the catch-up at connect) can route quickly.
            let daemon = try DaemonProcess.serve(bouncer.settings(settings), environment: [
                "ESCALATED_LISTEN_URL": settings.url, "ESCALATED_POLL_INTERVAL": "60s",
            ])
            try await InProcessDaemon.waitForListener(settings, count: 1)
            _ = try await daemon.waitForPort()
            try await TestPostgres.insertIssues(settings, count: 1)
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 1, timeout: .seconds(10))
            for _ in 0..<20 {
                try await TestPostgres.insertIssues(settings, count: 10)
                try await Task.sleep(for: .milliseconds(20))
            }
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 201, timeout: .seconds(10))
            #expect(try await TestPostgres.checkNothingHalfRouted(settings) == 201)
            // The pool's connections are PgBouncer's clients; the listener's is not.
            let clients = try Self.psql(bouncer, "SHOW CLIENTS")
            let names = clients.split(separator: "\n").compactMap { $0.split(separator: "|", omittingEmptySubsequences: false).last }
            #expect(names.contains("escalated"), "no pool connection went through PgBouncer:\n\(clients)")
            #expect(!names.contains("escalated-listener"), "\(clients)")
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0, "\(daemon.log.suffix(2000))")
        }

        @Test("through PgBouncer in transaction mode, serve refuses to start with one sentence (exit 2) rather than failing later on a prepared statement")
        func transactionModeRefused() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let bouncer = try Bouncer(inFrontOf: settings, mode: "transaction")
            defer { bouncer.stop() }
            let daemon = try DaemonProcess.serve(bouncer.settings(settings), environment: ["ESCALATED_LISTEN_URL": settings.url])
            #expect(try await daemon.waitForExit() == 2)
            #expect(daemon.log.contains("goes through a pooler in transaction or statement mode"), "\(daemon.log.suffix(2000))")
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues") == 0)
        }

        /// `psql` on PgBouncer's admin console (fields separated by '|').
        static func psql(_ bouncer: Bouncer, _ command: String) throws -> String {
            let process = Process()
            let out = bouncer.folder + "/psql.out"
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            process.arguments = ["-X", "-At", "-h", "127.0.0.1", "-p", "\(bouncer.port)", "-U", "postgres", "-d", "pgbouncer", "-c", command]
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            process.standardError = process.standardOutput
            try process.run()
            process.waitUntilExit()
            return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        }
    }
}
