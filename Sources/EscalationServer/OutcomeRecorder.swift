import EscalationStore
import Logging

/// Records the outcomes of sends as they finish, committing together the ones that arrive while
/// a commit is in flight (group commit).
///
/// A sender hands each outcome to ``record(_:)``, which returns once the statement holding it has
/// committed (or failed). ``run()``, the one flusher, takes everything queued, records it with one
/// `DeliveryStore.record` statement, wakes those senders, and starts again at once with whatever
/// arrived meanwhile: it never waits on a timer. Under light load each outcome gets a statement of
/// its own; under load a statement carries the outcomes of the sends that finished during the
/// previous commit.
///
/// The deliverer holds a sending slot until ``record(_:)`` returns, so at any moment the messages
/// a crash could repeat (sent, or being sent, and not yet recorded) are at most its concurrency.
///
/// When a statement fails, ``failed`` turns true and stays so: the deliverer starts no more sends
/// with this recorder (their outcomes could not be recorded either; the rows left unsent come due
/// again when their lease runs out, and the unrecorded ones go out once more).
actor OutcomeRecorder {
    private let store: DeliveryStore
    private let logger: Logger
    private var queued: [(outcome: DeliveryStore.Outcome, done: CheckedContinuation<Void, Never>)] = []
    /// The flusher, while it waits for an outcome.
    private var idle: CheckedContinuation<Void, Never>?
    private var closed = false
    /// True once a statement failed.
    private(set) var failed = false

    init(store: DeliveryStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Queues one outcome and returns once it is committed, or once its statement failed.
    func record(_ outcome: DeliveryStore.Outcome) async {
        await withCheckedContinuation { done in
            queued.append((outcome, done))
            wakeFlusher()
        }
    }

    /// No more outcomes will come: ``run()`` returns once the queued ones are recorded.
    func close() {
        closed = true
        wakeFlusher()
    }

    /// Flushes until ``close()`` has been called and the queue is empty.
    func run() async {
        while true {
            if queued.isEmpty {
                if closed { return }
                await withCheckedContinuation { idle = $0 }
                continue
            }
            let batch = queued
            queued.removeAll(keepingCapacity: true)
            await flush(batch.map(\.outcome))
            for entry in batch { entry.done.resume() }
        }
    }

    private func wakeFlusher() {
        idle?.resume()
        idle = nil
    }

    private func flush(_ outcomes: [DeliveryStore.Outcome]) async {
        do {
            let recorded = try await store.record(outcomes, logger: logger)
            for outcome in outcomes where !recorded.contains(outcome.id) {
                logger.warning("a delivery's lease ran out before its outcome was recorded; it may go out once more", metadata: ["delivery.id": "\(outcome.id)"])
            }
        } catch {
            failed = true
            logger.error("could not record delivery outcomes; they go out again when their lease runs out",
                         metadata: NotificationListener.errorMetadata(error).merging(["delivery.count": "\(outcomes.count)"]) { $1 })
        }
    }
}
