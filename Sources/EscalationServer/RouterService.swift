public import EscalationStore
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// Routes every new issue once: woken by NOTIFY, by the poll ticker, and after every reconnect.
///
/// Each wake-up drains the backlog batch by batch until a batch comes back short. Issues parked
/// as unroutable are retried when asked (`requestSweep`, on directory changes, reconnects and
/// poll ticks) and only when the directory changed since they were last tried.
/// On graceful shutdown the batch in hand commits and the rest is left to the next start.
public final class RouterService: Service {
    private let store: RoutingStore
    private let configuration: RouterConfiguration
    private let hooks: TestHooks
    private let logger: Logger
    private let wake = WakeSignal()
    private let sweepRequested = Mutex(true)
    private let routed = Counter(label: "escalated_routed_total", dimensions: [("outcome", "routed")])
    private let unroutable = Counter(label: "escalated_routed_total", dimensions: [("outcome", "unroutable")])
    private let failures = Counter(label: "escalated_router_errors_total")
    private let batchTimer = Timer(label: "escalated_router_batch_seconds")

    public init(store: RoutingStore, configuration: RouterConfiguration, hooks: TestHooks = TestHooks(), logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.hooks = hooks
        self.logger = logger
    }

    /// New issues may be waiting.
    public func wakeUp() {
        wake.signal()
    }

    /// The directory may have changed: retry unroutable issues, then look for new ones.
    public func requestSweep() {
        sweepRequested.withLock { $0 = true }
        wake.signal()
    }

    public func run() async throws {
        let poll = configuration.pollInterval
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // The poll fallback: the tables are the truth, notifications only make it faster.
                while !Task.isCancelled {
                    do { try await Task.sleep(for: poll) } catch { return }
                    self.requestSweep()
                }
            }
            for await _ in wake.stream.cancelOnGracefulShutdown() {
                await drain()
                if Task.isShuttingDownGracefully { break }
            }
            group.cancelAll()
        }
        logger.info("router stopped")
    }

    private func drain() async {
        if sweepRequested.withLock({ let was = $0; $0 = false; return was }) {
            await drain(.unroutable)
        }
        await drain(.reported)
    }

    /// Routes batches from `source` until one comes back short (several at once on a backlog).
    private func drain(_ source: RoutingStore.Source) async {
        // The first batch of a wake-up takes the latency path; backlog workers use locking claims.
        let first = Mutex(source == .reported)
        await drainBatches(workers: configuration.workers) {
            let optimistic = first.withLock { value in defer { value = false }; return value }
            return await self.routeOneBatch(source, optimistic: optimistic)
        }
    }

    /// Routes one batch; returns true when it was full (there may be more).
    ///
    /// `optimistic` takes the two-round-trip latency path (read, then a locking write); the
    /// workers of a backlog use locking claims, so they never read the same issues.
    private func routeOneBatch(_ source: RoutingStore.Source, optimistic: Bool = false) async -> Bool {
        let hold = hooks.routerHoldAfterClaim.map { duration in
            { @Sendable in _ = try? await Task.sleep(for: duration) }
        }
        let started = ContinuousClock.now
        do {
            let result = optimistic
                ? try await store.routeOptimistically(limit: configuration.batchSize, logger: logger)
                : try await store.routeBatch(from: source, limit: configuration.batchSize, hold: hold, logger: logger)
            if result.claimed > 0 {
                batchTimer.recordInterval(since: started)
                routed.increment(by: result.routed)
                unroutable.increment(by: result.unroutable)
                logger.debug("routed a batch", metadata: [
                    "router.claimed": "\(result.claimed)", "router.routed": "\(result.routed)",
                    "router.unroutable": "\(result.unroutable)", "directory.revision": "\(result.revision ?? 0)",
                ])
            }
            return result.claimed == configuration.batchSize
        } catch {
            failures.increment()
            logger.error("routing batch failed; will retry", metadata: NotificationListener.errorMetadata(error))
            // Back off briefly; the poll ticker or the next notification retries.
            try? await Task.sleep(for: .milliseconds(200))
            return false
        }
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
