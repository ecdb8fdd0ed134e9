public import EscalationStore
public import Logging
import Metrics
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// The state of the LISTEN connection, for `/readyz`.
public final class ListenerHealth: Sendable {
    private let connected = Mutex(false)
    public init() {}
    public var isConnected: Bool { connected.withLock { $0 } }
    func set(_ value: Bool) { connected.withLock { $0 = value } }
}

/// Holds one dedicated connection that LISTENs on ``WakeTopic/channel``, and turns notifications
/// into wake-ups by topic.
///
/// NOTIFY is only a hint: after every successful LISTEN the listener calls `onConnected` so
/// consumers run a catch-up claim. It proves its connection end to end every
/// `heartbeatInterval` (a NOTIFY sent through the pool must arrive here within
/// `heartbeatTimeout`), never queries the dedicated connection (a dead PostgresNIO connection
/// can hang a query forever), and reconnects with jittered exponential backoff.
///
/// It LISTENs on the server the pool is on (``Database/currentEndpoint``), or, when the listener
/// has a URL of its own (`ESCALATED_LISTEN_URL`, for a pool behind PgBouncer), on the server that
/// URL names (the one that takes writes, when it names several).
public final class NotificationListener: Service {
    private let settings: DatabaseSettings?
    private let client: Database
    private let configuration: ListenerConfiguration
    private let logger: Logger
    private let onNotification: @Sendable (WakeTopic) -> Void
    private let onConnected: @Sendable () -> Void
    public let health: ListenerHealth
    private let lastHeard = Mutex<ContinuousClock.Instant>(.now)
    private let reconnects = Counter(label: "escalated_listener_reconnects_total")

    /// `settings`: the listener's own database URL, or nil to follow the pool's server.
    public init(
        settings: DatabaseSettings?,
        client: Database,
        configuration: ListenerConfiguration,
        health: ListenerHealth = ListenerHealth(),
        logger: Logger,
        onNotification: @escaping @Sendable (WakeTopic) -> Void,
        onConnected: @escaping @Sendable () -> Void
    ) {
        self.settings = settings
        self.client = client
        self.configuration = configuration
        self.health = health
        self.logger = logger
        self.onNotification = onNotification
        self.onConnected = onConnected
    }

    public func run() async throws {
        var attempt = 0
        var connectionID = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            connectionID += 1
            let id = connectionID
            let listened = ListenedFlag()
            defer { if listened.value { attempt = 0 } }
            do {
                try await cancelWhenGracefulShutdown {
                    try await self.listenOnce(connectionID: id) { listened.set() }
                }
            } catch {
                health.set(false)
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                reconnects.increment()
                logger.warning("listener connection lost; reconnecting", metadata: Self.errorMetadata(error))
            }
            health.set(false)
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            let delay = Self.backoff(attempt: attempt, initial: configuration.initialBackoff, maximum: configuration.maximumBackoff)
            attempt += 1
            try? await cancelWhenGracefulShutdown { try await self.pause(delay) }
        }
        health.set(false)
    }

    /// Full jitter: a random delay between half and all of `initial · 2^attempt`, capped.
    static func backoff(attempt: Int, initial: Duration, maximum: Duration) -> Duration {
        let base = min(maximum, initial * (1 << min(attempt, 20)))
        return base * Double.random(in: 0.5...1.0)
    }

    /// Sleeps for `delay`, or until the pool opens on another server (after a failover the new
    /// primary is listened on at once, not after the backoff grown while there was none).
    private func pause(_ delay: Duration) async throws {
        guard settings == nil else { return try await Task.sleep(for: delay) }
        let generation = client.generation
        let end = ContinuousClock.now + delay
        while ContinuousClock.now < end {
            try await Task.sleep(for: min(.milliseconds(100), ContinuousClock.now.duration(to: end)))
            if client.generation != generation, client.currentEndpoint != nil { return }
        }
    }

    /// The server to listen on and how to reach it.
    private func target() async throws -> (DatabaseSettings, DatabaseSettings.Endpoint) {
        guard let settings else {
            guard let endpoint = client.currentEndpoint else {
                throw DatabaseUnavailable("the pool has no server that takes writes yet")
            }
            return (client.settings, endpoint)
        }
        guard settings.followsPrimary else { return (settings, settings.endpoints[0]) }
        var problems: [String] = []
        for endpoint in settings.endpoints {
            switch await Database.probe(endpoint, settings: settings, logger: logger) {
            case .accepts: return (settings, endpoint)
            case .refuses(let why): problems.append(why)
            }
        }
        throw DatabaseUnavailable("no host of ESCALATED_LISTEN_URL takes writes: " + problems.joined(separator: "; "))
    }

    private func listenOnce(connectionID: Int, onListening: @Sendable () -> Void) async throws {
        let (settings, endpoint) = try await target()
        let connection = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(applicationName: "escalated-listener", endpoint: endpoint),
            id: connectionID,
            logger: logger
        )
        do {
            try await connection.listen(on: WakeTopic.channel) { notifications in
                // LISTEN is in place: anything committed from now on notifies us, so a catch-up now
                // misses nothing that was committed before.
                health.set(true)
                onListening()
                lastHeard.withLock { $0 = .now }
                logger.info("listening for wake-ups", metadata: ["listener.connection": "\(connectionID)", "database.host": "\(endpoint)"])
                onConnected()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.heartbeat() }
                    group.addTask {
                        for try await notification in notifications {
                            self.lastHeard.withLock { $0 = .now }
                            switch WakeTopic(payload: notification.payload) {
                            case .ping: break
                            case let topic?: self.onNotification(topic)
                            case nil:
                                self.logger.debug("unknown wake-up topic", metadata: ["wakeup.payload": "\(notification.payload.prefix(64))"])
                            }
                        }
                        throw ListenerError.streamEnded
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    /// Sends a ping through the pool and expects to hear it (or anything) on the listening connection.
    private func heartbeat() async throws {
        while true {
            try await Task.sleep(for: configuration.heartbeatInterval)
            let sent = ContinuousClock.now
            try await client.query(WakeTopic.ping.notifyQuery, logger: logger)
            let deadline = sent + configuration.heartbeatTimeout
            while lastHeard.withLock({ $0 }) < sent {
                if ContinuousClock.now >= deadline { throw ListenerError.heartbeatLost }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    static func errorMetadata(_ error: any Error) -> Logger.Metadata {
        if let error = error as? PSQLError {
            return [
                "error.code": "\(error.code)",
                "error.sqlstate": "\(error.serverInfo?[.sqlState] ?? "")",
                "error.message": "\(error.serverInfo?[.message] ?? "")",
            ]
        }
        if let error = error as? DatabaseUnavailable { return ["error": "\(error.description)"] }
        return ["error": "\(error)"]
    }
}

/// Set once a connection got as far as LISTEN, so the backoff starts again from its shortest delay.
private final class ListenedFlag: Sendable {
    private let state = Mutex(false)
    var value: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}

enum ListenerError: Error {
    case streamEnded
    case heartbeatLost
}
