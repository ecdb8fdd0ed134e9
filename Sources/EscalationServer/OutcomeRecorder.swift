import EscalationStore
import Logging

/// Records the outcomes of sends as they finish, a few to a statement (group commit), and bounds
/// the messages in flight.
///
/// **In flight**: a message whose send has started (``admit()`` returned) and whose outcome has
/// not committed yet: being sent, or sent and waiting for its statement to commit. These are the
/// only messages a crash can repeat (one being sent may already have reached the server), so a
/// crash repeats at most `limit` messages. ``admit()`` lets no more than `limit` be in flight.
///
/// A sender calls ``admit()`` before it sends, then hands the outcome to ``submit(_:)`` (or calls
/// ``withdraw()`` when there is none) and is free at once: its sending place goes to the next
/// message while the outcome waits for its commit. ``run()``, the one flusher, records the queued
/// outcomes with one `DeliveryStore.record` statement as soon as `gatherCount` of them are queued,
/// or every message in flight is queued (no other send is running: under light load each outcome
/// goes at once, alone), or the first has waited `gatherTime`, or no more sends are coming. While
/// a statement commits, the next one gathers and the sends go on, as long as the total in flight
/// stays under `limit`. A statement per few outcomes rather than per outcome: on a loaded host
/// one per outcome cost about a quarter of the email rate (BENCHMARKS.md, issue 15).
///
/// When a statement fails, ``failed`` turns true and stays so: the deliverer starts no more sends
/// with this recorder (their outcomes could not be recorded either; the rows left unsent come due
/// again when their lease runs out, and the unrecorded ones go out once more).
actor OutcomeRecorder {
    private let store: DeliveryStore
    private let logger: Logger
    /// The most messages in flight.
    let limit: Int
    /// Messages in flight now: admitted, outcome not yet committed (or its statement failed).
    private(set) var inFlight = 0
    /// Senders waiting in ``admit()`` for a message in flight to end.
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
    /// True once a statement failed.
    private(set) var failed = false

    init(store: DeliveryStore, limit: Int, gatherCount: Int, gatherTime: Duration, logger: Logger) {
        self.store = store
        self.limit = max(1, limit)
        self.gatherCount = min(max(1, gatherCount), self.limit)
        self.gatherTime = gatherTime
        self.logger = logger
    }

    /// Returns once fewer than `limit` messages are in flight, counting the caller's as one more.
    func admit() async {
        if inFlight < limit {
            inFlight += 1
            return
        }
        // end(_:) counts this one when it resumes it.
        await withCheckedContinuation { admitting.append($0) }
    }

    /// Queues the outcome of an admitted send, to be committed with the others that come meanwhile.
    func submit(_ outcome: DeliveryStore.Outcome) {
        queued.append(outcome)
        if ready || queued.count == 1 { wakeFlusher() }
    }

    /// An admitted send that has no outcome to record.
    func withdraw() {
        end(1)
        if ready { wakeFlusher() }
    }

    /// No more outcomes will come: ``run()`` returns once the queued ones are recorded.
    func close() {
        closed = true
        wakeFlusher()
    }

    /// Flushes until ``close()`` has been called and the queue is empty.
    func run() async {
        while true {
            guard ready else {
                if queued.isEmpty, closed { return }
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
            end(batch.count)
        }
    }

    /// The queued outcomes are to be committed now: `gatherCount` of them, or every message in
    /// flight has been sent (no other outcome is coming soon), or the first has waited
    /// `gatherTime`, or no more sends are coming.
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

    /// `count` messages are no longer in flight: lets as many waiting senders in.
    private func end(_ count: Int) {
        inFlight -= count
        while inFlight < limit, !admitting.isEmpty {
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
        } catch {
            failed = true
            logger.error("could not record delivery outcomes; they go out again when their lease runs out",
                         metadata: NotificationListener.errorMetadata(error).merging(["delivery.count": "\(outcomes.count)"]) { $1 })
        }
    }
}
