public import EscalationStore
public import Logging
import Metrics
public import ServiceLifecycle

/// When maintenance runs and how hard it pushes.
public struct MaintenanceConfiguration: Sendable {
    /// Time between passes (one also runs at start); nil runs none (`ESCALATED_MAINTENANCE_INTERVAL=off`).
    public var interval: Duration? = .seconds(600)
    /// How old each kind of row must be before it goes.
    public var retention = RetentionPolicy()
    /// Rows deleted per statement: each batch is one short transaction.
    public var batchSize = 1000
    /// The pause between two batches, so that routing and delivery keep their latency while a
    /// large backlog of old rows goes.
    public var pause: Duration = .milliseconds(20)

    public init() {}
}

/// Deletes what no one needs forever (``MaintenanceStore``), a pass every
/// ``MaintenanceConfiguration/interval`` and one at start.
///
/// Any number of replicas may run it at once: batches claim rows with `SKIP LOCKED`, so they
/// neither wait on each other nor delete a row twice. A pass goes target by target, a batch at a
/// time, and moves on when a batch comes back short. On graceful shutdown it finishes the
/// statement in hand and stops; the next start carries on.
public final class MaintenanceService: Service {
    private let store: MaintenanceStore
    private let configuration: MaintenanceConfiguration
    private let logger: Logger
    private let removed: [MaintenanceStore.Target: Counter]
    private let failures = Counter(label: "escalated_maintenance_errors_total")
    private let passTimer = Timer(label: "escalated_maintenance_pass_seconds")

    public init(store: MaintenanceStore, configuration: MaintenanceConfiguration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        removed = Dictionary(uniqueKeysWithValues: MaintenanceStore.Target.allCases.map { target in
            (target, Counter(label: "escalated_maintenance_removed_total", dimensions: [("table", target.rawValue)]))
        })
    }

    public func run() async throws {
        guard let interval = configuration.interval else {
            // Disabled: stay until shutdown (a service that returns would stop the daemon).
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await runPass()
            } catch {
                failures.increment()
                logger.error("maintenance pass failed; will try again at the next one", metadata: NotificationListener.errorMetadata(error))
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One pass over every target; returns the rows removed per target (absent: none).
    @discardableResult
    public func runPass() async throws -> [MaintenanceStore.Target: Int] {
        let started = ContinuousClock.now
        var counts: [MaintenanceStore.Target: Int] = [:]
        targets: for target in MaintenanceStore.Target.allCases {
            let age = MaintenanceStore.age(of: target, in: configuration.retention)
            while true {
                let count = try await store.deleteBatch(target, olderThan: age, limit: configuration.batchSize, logger: logger)
                if count > 0 {
                    counts[target, default: 0] += count
                    removed[target]?.increment(by: count)
                }
                if Task.isShuttingDownGracefully || Task.isCancelled { break targets }
                if count < configuration.batchSize { break }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.pause) }
            }
        }
        passTimer.recordInterval(since: started)
        if counts.isEmpty {
            logger.debug("maintenance pass removed nothing")
        } else {
            logger.info("maintenance pass removed old rows", metadata: Dictionary(uniqueKeysWithValues: counts.map { ("removed.\($0.key.rawValue)", Logger.MetadataValue.string("\($0.value)")) }))
        }
        return counts
    }
}
