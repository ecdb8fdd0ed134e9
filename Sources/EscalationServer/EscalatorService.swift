public import EscalationStore
public import Logging
import Metrics
public import ServiceLifecycle

/// Fires every due escalation step once, on time.
///
/// It sleeps until the earliest pending step (asked of the database, whose clock is the clock),
/// at most a poll interval, or until woken: by a `deadlines` notification (a writer set a step
/// due within a minute) and after every reconnect. Each wake-up fires batches until nothing more
/// is due; while batches come back full, `workers` batches run at once.
public final class EscalatorService: Service {
    private let store: EscalatorStore
    private let configuration: EscalatorConfiguration
    private let hooks: TestHooks
    private let logger: Logger
    private let wake = WakeSignal()
    private let timer = WakeTimer()
    private let fired = Counter(label: "escalated_escalations_total")
    private let failures = Counter(label: "escalated_escalator_errors_total")
    private let batchTimer = Timer(label: "escalated_escalator_batch_seconds")

    public init(store: EscalatorStore, configuration: EscalatorConfiguration, hooks: TestHooks = TestHooks(), logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.hooks = hooks
        self.logger = logger
    }

    /// A deadline may have been set earlier, or the listener reconnected: look again now.
    public func wakeUp() {
        wake.signal()
    }

    public func run() async throws {
        await wake.runUntilShutdown(timer: timer, work: { await drain() }, plan: { await planNextLook() })
        logger.info("escalator stopped")
    }

    private func drain() async {
        await drainBatches(workers: configuration.workers) { await self.fireOneBatch() }
    }

    /// Fires one batch; true when it was full (there may be more).
    private func fireOneBatch() async -> Bool {
        let hold = hooks.escalatorHoldAfterClaim.map { duration in
            { @Sendable in _ = try? await Task.sleep(for: duration) }
        }
        let started = ContinuousClock.now
        do {
            let result = try await store.fireBatch(limit: configuration.batchSize, hold: hold, logger: logger)
            if result.claimed > 0 {
                batchTimer.recordInterval(since: started)
                fired.increment(by: result.fired)
                logger.debug("fired a batch", metadata: ["escalator.claimed": "\(result.claimed)", "escalator.fired": "\(result.fired)"])
            }
            return result.claimed == configuration.batchSize
        } catch {
            failures.increment()
            logger.error("escalation batch failed; will retry", metadata: NotificationListener.errorMetadata(error))
            try? await Task.sleep(for: .milliseconds(200))
            return false
        }
    }

    /// Schedules the next look: at the earliest pending step, or after a poll interval.
    private func planNextLook() async {
        var seconds: Double?
        do {
            seconds = try await store.secondsUntilNextStep(logger: logger)
        } catch {
            logger.warning("could not read the next deadline; polling", metadata: NotificationListener.errorMetadata(error))
        }
        timer.schedule(wake, secondsUntilDue: seconds, poll: configuration.pollInterval, retryDue: .milliseconds(50))
    }
}
