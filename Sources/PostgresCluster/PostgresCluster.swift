#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
public import Logging

/// A problem starting or stopping a private cluster, as one sentence for the operator.
public struct ClusterError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// True when PostgreSQL is simply not installed (the CLI exits 2 for this).
    public var notInstalled: Bool

    public init(_ message: String, notInstalled: Bool = false) {
        self.message = message
        self.notInstalled = notInstalled
    }

    public var description: String { message }
}

/// Where the PostgreSQL server programs are.
public struct PostgresInstall: Sendable, Equatable {
    public var binDirectory: String

    public init(binDirectory: String) {
        self.binDirectory = binDirectory
    }

    /// Finds `initdb`, `pg_ctl` and `postgres`: in `pg_config --bindir`, then on PATH, then in
    /// the newest `/usr/lib/postgresql/*/bin`.
    public static func locate(environment: [String: String]? = nil, libraryRoot: String = "/usr/lib/postgresql") throws(ClusterError) -> PostgresInstall {
        let environment = environment ?? ProcessInfo.processInfo.environment
        var candidates: [String] = []
        let path = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        if let pgConfig = path.map({ $0 + "/pg_config" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
           let output = try? Shell.run(pgConfig, ["--bindir"]), output.status == 0 {
            candidates.append(output.text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        candidates += path
        let root = libraryRoot
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { name in Double(name).map { (name, $0) } }
            .sorted { $0.1 > $1.1 }
        candidates += versions.map { "\(root)/\($0.0)/bin" }
        for directory in candidates {
            let install = PostgresInstall(binDirectory: directory)
            if ["initdb", "pg_ctl", "postgres"].allSatisfy({ FileManager.default.isExecutableFile(atPath: install.path($0)) }) {
                return install
            }
        }
        throw ClusterError(
            "PostgreSQL server programs (initdb, pg_ctl, postgres) were not found; install the Debian package 'postgresql' (apt-get install postgresql) or set DATABASE_URL",
            notInstalled: true
        )
    }

    func path(_ program: String) -> String { binDirectory + "/" + program }
}

/// A private PostgreSQL cluster in a data folder of its own, on a free loopback port.
///
/// The cluster trusts local connections from the `postgres` user and listens on 127.0.0.1 only.
/// When the process runs as root, the cluster runs as the `postgres` system user (initdb refuses
/// root), so the data folder and its parents must be reachable by that user.
public final class PostgresCluster: Sendable {
    public let install: PostgresInstall
    public let dataDirectory: String
    public let port: Int
    public let host = "127.0.0.1"
    public let username = "postgres"
    private let runAs: String?

    private init(install: PostgresInstall, dataDirectory: String, port: Int, runAs: String?) {
        self.install = install
        self.dataDirectory = dataDirectory
        self.port = port
        self.runAs = runAs
    }

    /// A data folder for the demo that survives restarts: `$XDG_DATA_HOME/escalated/demo`
    /// (or `~/.local/share/escalated/demo`), and `/var/lib/escalated/demo` for root.
    public static func defaultDemoDirectory(environment: [String: String]? = nil) -> String {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if getuid() == 0 { return "/var/lib/escalated/demo" }
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/escalated/demo" }
        return (environment["HOME"] ?? NSTemporaryDirectory()) + "/.local/share/escalated/demo"
    }

    /// Creates the cluster if the folder holds none, then starts it on a free port.
    ///
    /// A server left running in the folder by a process that died is stopped first.
    /// `settings` are passed to the server as `-c name=value` (for example `fsync=off` in tests).
    public static func start(
        dataDirectory: String,
        install: PostgresInstall? = nil,
        settings: [String: String] = [:],
        logger: Logger
    ) throws(ClusterError) -> PostgresCluster {
        let given = install
        let install: PostgresInstall
        if let given {
            install = given
        } else {
            install = try PostgresInstall.locate()
        }
        let runAs: String? = getuid() == 0 ? "postgres" : nil
        if let runAs, getpwnam(runAs) == nil {
            throw ClusterError("running as root needs the system user 'postgres' to own the cluster; install the Debian package 'postgresql' or run as an ordinary user")
        }
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw ClusterError("cannot create the data folder \(dataDirectory): \(error.localizedDescription)")
        }
        if let runAs, let pw = getpwnam(runAs) {
            chown(dataDirectory, pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        chmod(dataDirectory, 0o700)
        let cluster = PostgresCluster(install: install, dataDirectory: dataDirectory, port: 0, runAs: runAs)

        if !fm.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            logger.info("creating a PostgreSQL cluster", metadata: ["cluster.data": "\(dataDirectory)"])
            let result = try cluster.run("initdb", ["-D", dataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"])
            guard result.status == 0 else {
                throw ClusterError("initdb failed in \(dataDirectory) (is the folder reachable by the user running PostgreSQL?): \(result.text.suffix(400))")
            }
        }
        // A server left behind by a process that was killed: stop it, then start afresh.
        if fm.fileExists(atPath: dataDirectory + "/postmaster.pid") {
            let stale = try cluster.run("pg_ctl", ["-D", dataDirectory, "status"])
            if stale.status == 0 {
                logger.info("stopping a PostgreSQL server left running in the data folder", metadata: ["cluster.data": "\(dataDirectory)"])
                _ = try cluster.run("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"])
            }
        }

        var lastError = ""
        for _ in 0..<5 {
            let port = try freeLoopbackPort()
            var options = "-p \(port) -k \(dataDirectory) -c listen_addresses=127.0.0.1"
            for (name, value) in settings.sorted(by: { $0.key < $1.key }) { options += " -c \(name)=\(value)" }
            let result = try cluster.run("pg_ctl", ["-D", dataDirectory, "-l", dataDirectory + "/server.log", "-w", "-t", "60", "-o", options, "start"])
            if result.status == 0 {
                logger.info("PostgreSQL started", metadata: ["cluster.data": "\(dataDirectory)", "cluster.port": "\(port)"])
                return PostgresCluster(install: install, dataDirectory: dataDirectory, port: port, runAs: runAs)
            }
            lastError = result.text
            if fm.fileExists(atPath: dataDirectory + "/postmaster.pid") { _ = try? cluster.run("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"]) }
        }
        let log = (try? String(contentsOfFile: dataDirectory + "/server.log", encoding: .utf8))?.suffix(600) ?? ""
        throw ClusterError("PostgreSQL did not start in \(dataDirectory): \(lastError.suffix(300)) \(log)")
    }

    /// Stops the server (fast shutdown: open sessions are ended, data is safe).
    public func stop() {
        _ = try? run("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "30", "stop"])
    }

    /// Copies this running cluster into `directory` as a streaming standby of it (`pg_basebackup -R`):
    /// start it with ``start(dataDirectory:install:settings:logger:)`` and it replicates from here.
    public func baseBackup(into directory: String) throws(ClusterError) {
        let result = try run("pg_basebackup", ["-h", host, "-p", "\(port)", "-U", username, "-D", directory, "-R", "-X", "stream", "-c", "fast", "--no-sync"])
        guard result.status == 0 else { throw ClusterError("pg_basebackup failed: \(result.text.suffix(400))") }
    }

    /// Promotes a standby to primary and waits until it takes writes (what a failover manager does).
    public func promote() throws(ClusterError) {
        let result = try run("pg_ctl", ["-D", dataDirectory, "-w", "-t", "60", "promote"])
        guard result.status == 0 else { throw ClusterError("pg_ctl promote failed: \(result.text.suffix(400))") }
    }

    /// Kills the server and every process of it with SIGKILL at once, as a machine that dies would
    /// leave it: no shutdown checkpoint, connections dropped. Returns how many processes were killed.
    @discardableResult
    public func killHard() -> Int {
        guard let pidText = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let postmaster = pidText.split(separator: "\n").first.flatMap({ Int32($0) }) else { return 0 }
        // Stopped first, so that it forks no backend while its children are listed; then the
        // children, then the postmaster (a backend left without its postmaster would only notice
        // and exit a moment later, and one forked after the listing would live on).
        kill(postmaster, SIGSTOP)
        var children: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == postmaster { children.append(pid) }
        }
        for child in children { kill(child, SIGKILL) }
        kill(postmaster, SIGKILL)
        return children.count + 1
    }

    /// The URL of a database on this cluster.
    public func url(database: String = "postgres") -> String {
        "postgres://\(username)@\(host):\(port)/\(database)"
    }

    /// Runs `psql` against the cluster (used to create databases before any pool exists).
    public func psql(_ sql: String, database: String = "postgres") throws(ClusterError) -> String {
        let result = try run("psql", ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", "\(port)", "-U", username, "-d", database, "-c", sql])
        guard result.status == 0 else { throw ClusterError("psql failed: \(result.text)") }
        return result.text
    }

    private func run(_ program: String, _ arguments: [String]) throws(ClusterError) -> Shell.Output {
        let executable = install.path(program)
        do {
            if let runAs {
                return try Shell.run(Shell.runuser, ["-u", runAs, "--", executable] + arguments)
            }
            return try Shell.run(executable, arguments)
        } catch {
            throw ClusterError("could not run \(executable): \(error)")
        }
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port` (a server started by a
    /// test or the bench is up).
    public static func loopbackPortAccepts(_ port: Int) -> Bool {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Asks the kernel for a free port on 127.0.0.1.
    public static func freeLoopbackPort() throws(ClusterError) -> Int {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ClusterError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else { throw ClusterError("cannot bind 127.0.0.1 to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Runs a program to completion and captures what it prints.
enum Shell {
    struct Output {
        var status: Int32
        var text: String
    }

    static var runuser: String {
        ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "runuser"
    }

    /// Spawns with `posix_spawn` and waits with `waitpid`; output goes to a temporary file.
    ///
    /// Not Foundation's `Process`, nor a pipe: `pg_ctl start` leaves the server running with our
    /// inherited descriptors, and both a pipe and `Process`'s exit-watching socket would then
    /// wait for the server to exit.
    static func run(_ executable: String, _ arguments: [String]) throws -> Output {
        let path = NSTemporaryDirectory() + "escalated-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).out"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ClusterError("cannot create a temporary file in \(NSTemporaryDirectory())") }
        defer {
            close(fd)
            unlink(path)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw ClusterError("cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw ClusterError("lost track of \(executable)") }
        }
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Output(status: exitStatus, text: text)
    }
}
