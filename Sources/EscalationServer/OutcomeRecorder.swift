import EscalationCore
import EscalationStore
import Logging

/// Bounds the deliverer's sends and records their outcomes as they finish, a few to a statement
/// (group commit). One per deliverer, for its whole run, across leased rounds.
///
/// **In flight**: a message whose send has started (``admit()`` returned) and whose outcome has
/// not committed yet: being sent, or sent and waiting for its statement to commit. These are the
/// only messages a crash can repeat (one being sent may already have reached the server), so a
/// crash repeats at most `limit` messages. ``admit()`` lets no more than `concurrency` be sent at
/// once and no more than `limit` be in flight.
///
/// A sender calls ``admit()`` before it sends, then hands the outcome to ``submit(_:)`` (or calls
/// ``withdraw()`` when there is none) and is free at once: its sending place goes to the next
/// message while the outcome waits for its commit. ``run()``, the one flusher, records the queued
/// outcomes with one `DeliveryStore.record` statement as soon as `gatherCount` of them are queued,
/// or every message in flight is queued (no other send is running: under light load each outcome
/// goes at once, alone), or the first has waited `gatherTime`, or the deliverer is stopping. While
/// a statement commits, the next one gathers and the sends go on, as long as the total in flight
/// stays under `limit` (BENCHMARKS.md, issue 15, for how the limit and the gathering were measured).
///
/// A failed statement counts in ``failures``: its outcomes are not recorded, and their rows go
/// out once more when their lease runs out.
actor OutcomeRecorder {
    private let store: DeliveryStore
    private let logger: Logger
    /// The most messages being sent at once.
    let concurrency: Int
    /// The most messages in flight.
    let limit: Int
    /// Messages being sent now: admitted, outcome not yet submitted.
    private(set) var sending = 0
    /// Messages in flight now: admitted, outcome not yet committed (or its statement failed).
    private(set) var inFlight = 0
    /// Senders waiting in ``admit()`` for a place.
    private var admitting: [CheckedContinuation<Void, Never>] = []
    private var queued: [DeliveryStore.Outcome] = []
    /// The flusher, while it waits for an outcome.
    private var idle: CheckedContinuation<Void, Never>?
    /// Outcomes a statement waits for while other sends are still completing.
    let gatherCount: Int
    /// The longest the first outcome of a statement waits for the others.
    let gatherTime: Duration
    /// Statements started so far: names the batch a gather timer was started for.
    private var gathered = 0
    /// A gather timer runs for the batch now gathering; `gatherExpired` once it has rung.
    private var timing = false
    private var gatherExpired = false
    private var closed = false
    /// Statements that failed so far.
    private(set) var failures = 0

    /// Called after a statement that recorded a retry, whose due time the deliverer may not know yet.
    private let afterRetry: @Sendable () -> Void

    init(store: DeliveryStore, concurrency: Int, limit: Int, gatherCount: Int, gatherTime: Duration,
         afterRetry: @escaping @Sendable () -> Void, logger: Logger) {
        self.store = store
        self.afterRetry = afterRetry
        self.concurrency = max(1, concurrency)
        self.limit = max(self.concurrency, limit)
        self.gatherCount = min(max(1, gatherCount), self.limit)
        self.gatherTime = gatherTime
        self.logger = logger
    }

    /// Returns once fewer than `concurrency` messages are being sent and fewer than `limit` are
    /// in flight, counting the caller's as one more of each.
    func admit() async {
        if admitting.isEmpty, hasRoom {
            sending += 1
            inFlight += 1
            return
        }
        // letIn() counts this one when it resumes it.
        await withCheckedContinuation { admitting.append($0) }
    }

    /// Queues the outcome of an admitted send, to be committed with the others that come meanwhile.
    func submit(_ outcome: DeliveryStore.Outcome) {
        sending -= 1
        queued.append(outcome)
        letIn()
        if ready || queued.count == 1 || closed { wakeFlusher() }
    }

    /// An admitted send that has no outcome to record (or was not started).
    func withdraw() {
        sending -= 1
        inFlight -= 1
        letIn()
        wakeFlusher()
    }

    /// No more sends will be admitted: ``run()`` returns once every message in flight has had
    /// its outcome recorded.
    func close() {
        closed = true
        wakeFlusher()
    }

    /// Flushes until ``close()`` has been called and nothing is in flight.
    func run() async {
        while true {
            guard ready else {
                if inFlight == 0, closed { return }
                if !queued.isEmpty, !timing { startGatherTimer() }
                await withCheckedContinuation { idle = $0 }
                continue
            }
            let batch = queued
            queued.removeAll(keepingCapacity: true)
            gathered += 1
            timing = false
            gatherExpired = false
            await flush(batch)
            inFlight -= batch.count
            letIn()
        }
    }

    /// The queued outcomes are to be committed now: `gatherCount` of them, or every message in
    /// flight has been sent (no other outcome is coming soon), or the first has waited
    /// `gatherTime`, or the deliverer is stopping.
    private var ready: Bool {
        !queued.isEmpty && (queued.count >= gatherCount || queued.count == inFlight || closed || gatherExpired)
    }

    /// Wakes the flusher `gatherTime` after the first outcome of the batch now gathering was queued.
    private func startGatherTimer() {
        timing = true
        gatherExpired = false
        let batch = gathered, delay = gatherTime
        Task {
            try? await Task.sleep(for: delay)
            self.expire(batch)
        }
    }

    private func expire(_ batch: Int) {
        guard batch == gathered else { return }
        gatherExpired = true
        wakeFlusher()
    }

    private var hasRoom: Bool { sending < concurrency && inFlight < limit }

    /// Lets waiting senders in, first come first, while there is room.
    private func letIn() {
        while hasRoom, !admitting.isEmpty {
            sending += 1
            inFlight += 1
            admitting.removeFirst().resume()
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
            if outcomes.contains(where: \.isRetry) { afterRetry() }
        } catch {
            failures += 1
            logger.error("could not record delivery outcomes; they go out again when their lease runs out",
                         metadata: NotificationListener.errorMetadata(error).merging(["delivery.count": "\(outcomes.count)"]) { $1 })
        }
    }
}

extension DeliveryStore.Outcome {
    /// The delivery is to be tried again later.
    var isRetry: Bool {
        if case .retry = decision { return true }
        return false
    }
}
