public import Logging
import Metrics
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// No server of the database URL takes sessions of the kind it asks for right now (the primary is
/// down and no standby has been promoted yet, say). The message is one sentence for the operator.
public struct DatabaseUnavailable: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The daemon's connection pool: one `PostgresClient` on the server that accepts writes.
///
/// With a single host and `target_session_attrs=any` (the default) it is exactly that host's pool.
/// Otherwise (``DatabaseSettings/followsPrimary``) it follows the primary of a replicated cluster:
/// - at start it asks each host in turn, on a connection of its own, whether it takes the sessions
///   wanted (`pg_is_in_recovery()`, `transaction_read_only`), and opens the pool on the first that does;
/// - every `checkInterval`, and at once when a call fails for a reason that could mean the server
///   went away or turned read-only, it asks again through the pool (one small query);
/// - when the host no longer answers, or answers that it is a standby now, the pool is closed, calls
///   fail fast with ``DatabaseUnavailable`` (the API answers 503), and the hosts are asked again with
///   a backoff capped at half a second until one takes writes; a new pool opens there. (Asking
///   costs a connection to each host; twice a second is nothing to a server, and a promotion is
///   noticed within half a second of it.)
///
/// It never decides which server is the primary: a failover manager (Patroni, pg_auto_failover)
/// promotes a standby and fences the old primary; this follows what the servers say.
public final class Database: Service, Sendable {
    public let settings: DatabaseSettings
    private let applicationName: String
    private let maximumConnections: Int
    private let logger: Logger
    private let checkInterval: Duration
    private let fixed: PostgresClient?
    private let state: Mutex<State>
    /// A call failed in a way that asks for a check before the next interval.
    private let checkRequested = Atomic<Bool>(false)
    private let switches = Counter(label: "escalated_database_switches_total")

    private struct State {
        var client: PostgresClient?
        var endpoint: DatabaseSettings.Endpoint?
        /// Goes up whenever the pool opens on a host or closes: the listener compares it to follow.
        var generation = 0
        var everOpened = false
        var problem = "no database host has been asked yet"
    }

    public init(settings: DatabaseSettings, applicationName: String, maximumConnections: Int = 20, logger: Logger,
                checkInterval: Duration = .seconds(1)) {
        self.settings = settings
        self.applicationName = applicationName
        self.maximumConnections = maximumConnections
        self.logger = logger
        self.checkInterval = checkInterval
        if settings.followsPrimary {
            fixed = nil
            state = Mutex(State())
        } else {
            let client = PostgresClient(
                configuration: settings.clientConfiguration(applicationName: applicationName, maximumConnections: maximumConnections),
                backgroundLogger: logger)
            fixed = client
            state = Mutex(State(client: client, endpoint: settings.endpoints[0], generation: 1, everOpened: true, problem: ""))
        }
    }

    /// The host the pool is on, nil while none takes the sessions wanted.
    public var currentEndpoint: DatabaseSettings.Endpoint? { state.withLock { $0.endpoint } }

    /// Changes each time the pool opens on a host or closes.
    public var generation: Int { state.withLock { $0.generation } }

    public func run() async {
        if let fixed {
            await fixed.run()
            return
        }
        await cancelWhenGracefulShutdown { await self.follow() }
    }

    // MARK: Calls, as PostgresClient has them

    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger? = nil, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        let client = try await pool()
        do {
            return try await client.query(query, logger: logger, file: file, line: line)
        } catch {
            noteFailure(error)
            throw error
        }
    }

    public func execute<Statement: PostgresPreparedStatement, Row>(
        _ statement: Statement, logger: Logger? = nil, file: String = #fileID, line: Int = #line
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Row> where Row == Statement.Row {
        let client = try await pool()
        do {
            return try await client.execute(statement, logger: logger, file: file, line: line)
        } catch {
            noteFailure(error)
            throw error
        }
    }

    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ closure: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        let client = try await pool()
        do {
            return try await client.withConnection(isolation: isolation, closure)
        } catch {
            noteFailure(error)
            throw error
        }
    }

    /// A transaction on a pooled connection: BEGIN, `closure`, COMMIT; ROLLBACK when the closure
    /// throws, and its error is rethrown as it is.
    ///
    /// Not PostgresNIO's `withTransaction`: after a failure it sends ROLLBACK on the same
    /// connection, and when the failure was the server going away (a failover, a restart), a
    /// query on that dead connection can wait for ever, holding its request with it. Here no
    /// statement goes to a closed connection, and ROLLBACK has 2 s before the connection is closed
    /// (which rolls back as well).
    public func withTransaction<Result>(
        logger: Logger, file: String = #file, line: Int = #line,
        isolation: isolated (any Actor)? = #isolation,
        _ closure: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await withConnection(isolation: isolation) { connection in
            try await connection.query("BEGIN", logger: logger)
            let value: Result
            do {
                value = try await closure(connection)
            } catch {
                await Self.rollBack(connection, logger: logger)
                throw error
            }
            guard !connection.isClosed else { throw DatabaseUnavailable("the connection closed before COMMIT; the transaction did not commit") }
            try await connection.query("COMMIT", logger: logger)
            return value
        }
    }

    static func rollBack(_ connection: PostgresConnection, logger: Logger) async {
        guard !connection.isClosed else { return }
        do {
            _ = try await within(.seconds(2)) { try await connection.query("ROLLBACK", logger: logger) }
        } catch {
            try? await connection.close()
        }
    }

    /// The open pool; while there is none, waits a moment for one (10 s before the first ever
    /// opened, for start-up and one-shot commands; 1 s after, so calls during a failover answer soon).
    private func pool() async throws -> PostgresClient {
        if let fixed { return fixed }
        let started = ContinuousClock.now
        while true {
            let (client, everOpened, problem) = state.withLock { ($0.client, $0.everOpened, $0.problem) }
            if let client { return client }
            let patience: Duration = everOpened ? .seconds(1) : .seconds(10)
            if started.duration(to: .now) >= patience || Task.isCancelled {
                throw DatabaseUnavailable(problem)
            }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    /// A call failed: if the failure could mean the server went away or stopped taking writes,
    /// check the host now rather than at the next interval.
    private func noteFailure(_ error: any Error) {
        guard fixed == nil, Self.mayMeanServerTrouble(error) else { return }
        checkRequested.store(true, ordering: .relaxed)
    }

    static func mayMeanServerTrouble(_ error: any Error) -> Bool {
        if let error = error as? PSQLError {
            guard error.code == .server else { return true }
            let state = error.serverInfo?[.sqlState] ?? ""
            // 25006 read-only transaction, 57P01-03 shutdown or cannot connect now, class 08 connection exceptions.
            return state == "25006" || state.hasPrefix("57P") || state.hasPrefix("08")
        }
        return !(error is CancellationError)
    }

    // MARK: Following the primary

    private func follow() async {
        var round = 0
        while !Task.isCancelled {
            guard let endpoint = await locate(round: &round) else { return }
            let client = PostgresClient(
                configuration: settings.clientConfiguration(applicationName: applicationName, maximumConnections: maximumConnections,
                                                            endpoint: endpoint),
                backgroundLogger: logger)
            await withDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                state.withLock {
                    $0.client = client
                    $0.endpoint = endpoint
                    $0.generation += 1
                    $0.everOpened = true
                    $0.problem = ""
                }
                switches.increment()
                logger.info("database pool open", metadata: ["database.host": "\(endpoint)"])
                let reason = await watch(client, on: endpoint)
                state.withLock {
                    $0.client = nil
                    $0.endpoint = nil
                    $0.generation += 1
                    $0.problem = reason
                }
                if !Task.isCancelled {
                    logger.warning("database host lost; looking for the one that takes writes",
                                   metadata: ["database.host": "\(endpoint)", "database.problem": "\(reason)"])
                }
                group.cancelAll()
            }
            round = 0
        }
    }

    /// Asks every host, in order and again with a backoff (100 ms doubling to 0.5 s), until one takes
    /// the sessions wanted; nil once cancelled.
    private func locate(round: inout Int) async -> DatabaseSettings.Endpoint? {
        while !Task.isCancelled {
            var problems: [String] = []
            for endpoint in settings.endpoints {
                switch await Self.probe(endpoint, settings: settings, logger: logger) {
                case .accepts: return endpoint
                case .refuses(let why): problems.append(why)
                }
            }
            let problem = "no host of the database URL takes " + (settings.target == .any ? "connections" : "writes") + ": "
                + problems.joined(separator: "; ")
            state.withLock { $0.problem = problem }
            if round == 0 { logger.warning("no database host available", metadata: ["database.problem": "\(problem)"]) }
            let delay = min(Duration.milliseconds(500), .milliseconds(100) * (1 << min(round, 10)))
            round += 1
            do { try await Task.sleep(for: delay) } catch { return nil }
        }
        return nil
    }

    /// Watches the pool's host until it stops taking the sessions wanted; returns why.
    private func watch(_ client: PostgresClient, on endpoint: DatabaseSettings.Endpoint) async -> String {
        var unsure = 0
        while !Task.isCancelled {
            let suspected = await nextCheck()
            if Task.isCancelled { break }
            if suspected {
                // A call failed: ask the server on a connection of its own. Through the pool the
                // question would wait for the pool to reconnect to a server that may be gone
                // (up to the 2 s limit), which was most of the time a failover took to notice.
                switch await Self.probe(endpoint, settings: settings, logger: logger) {
                case .refuses(let why): return why
                case .accepts: continue
                }
            }
            let verdict: Verdict
            do {
                verdict = try await Self.within(.seconds(2)) { [settings] in
                    try await Self.ask(settings.target, endpoint: endpoint) { query in try await client.query(query) }
                }
            } catch {
                // The pool could not answer: ask the server on a connection of its own, so that a
                // pool still waiting to reconnect does not hide a server that is gone.
                switch await Self.probe(endpoint, settings: settings, logger: logger) {
                case .refuses(let why): return why
                case .accepts:
                    unsure += 1
                    if unsure >= 3 { return "\(endpoint) answers, but the pool's connections to it keep failing (\(error))" }
                    continue
                }
            }
            switch verdict {
            case .accepts: unsure = 0
            case .refuses(let why): return why
            }
        }
        return "the daemon is stopping"
    }

    /// Sleeps until the next check: `checkInterval`, or sooner (within 50 ms) when a call failed;
    /// true in that case. (Polling a flag, not awaiting a stream: a cancelled wait on an
    /// AsyncStream ends the stream, and the loop then checked without pause, 700 times a second.)
    private func nextCheck() async -> Bool {
        let end = ContinuousClock.now + checkInterval
        while ContinuousClock.now < end {
            if checkRequested.exchange(false, ordering: .relaxed) { return true }
            do { try await Task.sleep(for: min(.milliseconds(50), ContinuousClock.now.duration(to: end))) } catch { return false }
        }
        return checkRequested.exchange(false, ordering: .relaxed)
    }

    public enum Verdict: Sendable, Equatable {
        case accepts
        case refuses(String)
    }

    /// Asks `endpoint` on a connection of its own, within 3 s (a dead PostgresNIO connection can
    /// hang a query for ever; the call then returns and its task is left to end with the connection).
    public static func probe(_ endpoint: DatabaseSettings.Endpoint, settings: DatabaseSettings, logger: Logger) async -> Verdict {
        do {
            // The whole question within 3 s: a server that accepts the connection but never
            // answers (a stopped process, a half-open network path) must not stall the caller.
            return try await within(.seconds(3)) {
                var quiet = logger
                quiet.logLevel = .critical
                var config = try settings.connectionConfiguration(applicationName: "escalated-probe", endpoint: endpoint)
                config.options.connectTimeout = .seconds(2)
                let connection = try await PostgresConnection.connect(configuration: config, id: 0, logger: quiet)
                do {
                    let verdict = try await ask(settings.target, endpoint: endpoint) { query in
                        try await connection.query(query, logger: quiet)
                    }
                    try? await connection.close()
                    return verdict
                } catch {
                    try? await connection.close()
                    throw error
                }
            }
        } catch {
            return .refuses("\(endpoint) does not answer (\(describe(error)))")
        }
    }

    /// Refuses a pooler that hands a client's server connection to another client between
    /// transactions (PgBouncer's `pool_mode = transaction` or `statement`): the daemon's prepared
    /// statements live on a server connection, and PgBouncer before 1.21 does not carry them over.
    ///
    /// Two connections: A asks for its backend's pid; B opens a transaction and asks for its own;
    /// A asks again. Behind a server, or a pooler in session mode, A keeps its backend and B never
    /// has it. Behind a pooler in transaction mode, B takes the backend A just released, or A is
    /// given another. Three rounds, as another client of the pooler could hide one.
    public func checkSessionPooling() async throws {
        _ = try await pool()
        guard let endpoint = currentEndpoint else { return }
        var quiet = logger
        quiet.logLevel = .critical
        let config = try settings.connectionConfiguration(applicationName: applicationName + "-check", endpoint: endpoint)
        let a = try await PostgresConnection.connect(configuration: config, id: 1, logger: quiet)
        defer { Task { try? await a.close() } }
        let b = try await PostgresConnection.connect(configuration: config, id: 2, logger: quiet)
        defer { Task { try? await b.close() } }
        func pid(_ connection: PostgresConnection) async throws -> Int32 {
            for try await value in try await connection.query("SELECT pg_backend_pid()", logger: quiet).decode(Int32.self) { return value }
            return 0
        }
        for _ in 0..<3 {
            let first = try await pid(a)
            try await b.query("BEGIN", logger: quiet)
            let other = try await pid(b)
            let again = try await pid(a)
            try await b.query("COMMIT", logger: quiet)
            if other == first || again != first {
                throw SettingsError("DATABASE_URL goes through a pooler in transaction or statement mode (\(endpoint) gave one client's server connection to another), which cannot keep the daemon's prepared statements; use pool_mode = session, or connect directly (README, Poolers)")
            }
        }
    }

    /// What the server says of itself, against the target.
    static func ask(_ target: DatabaseSettings.SessionTarget, endpoint: DatabaseSettings.Endpoint,
                    _ run: (PostgresQuery) async throws -> PostgresRowSequence) async throws -> Verdict {
        let rows = try await run("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
        for try await (standby, readOnly) in rows.decode((Bool, String).self) {
            switch target {
            case .any: return .accepts
            case .primary: return standby ? .refuses("\(endpoint) is a standby") : .accepts
            case .readWrite:
                if standby { return .refuses("\(endpoint) is a standby") }
                return readOnly == "on" ? .refuses("\(endpoint) is read-only") : .accepts
            }
        }
        return .refuses("\(endpoint) answered nothing")
    }

    /// A short form of a connection error for messages (PSQLError's own description is generic).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return "\(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    struct TimedOut: Error, CustomStringConvertible {
        var description: String { "no answer in time" }
    }

    /// `operation`'s result, or ``TimedOut`` after `limit`. The operation runs in a task of its own
    /// and is cancelled, not awaited, on timeout: a call on a dead connection may never return.
    public static func within<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let pending = PendingAnswer<T>()
        return try await withCheckedThrowingContinuation { continuation in
            pending.hold(continuation)
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                pending.take()?.resume(with: result)
            }
            Task {
                try? await Task.sleep(for: limit)
                if let waiting = pending.take() {
                    work.cancel()
                    waiting.resume(throwing: TimedOut())
                }
            }
        }
    }
}

/// A continuation resumed once, by whichever of two tasks comes first.
private final class PendingAnswer<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)
    func hold(_ waiting: CheckedContinuation<T, any Error>) { continuation.withLock { $0 = waiting } }
    func take() -> CheckedContinuation<T, any Error>? { continuation.withLock { $0.take() } }
}
