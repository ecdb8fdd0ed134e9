import EscalationCore
import EscalationStore
import Logging

/// Bounds the deliverer's sends and records their outcomes as they finish (group commit over a
/// few statements at once). One per deliverer, for its whole run, across leased rounds.
///
/// **In flight**: a message whose send has started (``admit()`` returned) and whose outcome has
/// not committed yet: being sent, or sent and its statement not yet answered. Only these can go
/// out again after a crash (one being sent may already have reached the server), so a crash
/// repeats at most `limit` messages. ``admit()`` lets no more than `concurrency` be sent at once
/// and no more than `limit` be in flight.
///
/// A sender calls ``admit()`` before it sends, then hands the outcome to ``submit(_:)`` (or calls
/// ``withdraw()`` when there is none) and is free at once: its sending place goes to the next
/// message while the outcome is recorded. An outcome goes to PostgreSQL at once, in a statement of
/// its own, when one of the `lanes` statements is free; the outcomes that complete while every
/// lane is busy go together in the next free lane. What a crash repeats is what is being sent and
/// what waits for a lane: a statement already written to the connection commits even if the
/// daemon is killed the next instant (PostgreSQL runs what it has received), so a commit's latency
/// does not widen the window, only the wait for a lane does. BENCHMARKS.md, issue 15, has the
/// measurements.
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
    /// The most recording statements running at once.
    let lanes: Int
    /// Messages being sent now: admitted, outcome not yet submitted.
    private(set) var sending = 0
    /// Messages in flight now: admitted, outcome not yet committed.
    private(set) var inFlight = 0
    /// Senders waiting in ``admit()`` for a place.
    private var admitting: [CheckedContinuation<Void, Never>] = []
    /// Outcomes waiting for a free lane.
    private var queued: [DeliveryStore.Outcome] = []
    /// Statements running now.
    private var busyLanes = 0
    /// ``close()``, while it waits for the last outcomes.
    private var drained: CheckedContinuation<Void, Never>?
    private var closed = false
    /// Statements that failed so far.
    private(set) var failures = 0

    /// Called after a statement that recorded a retry, whose due time the deliverer may not know yet.
    private let afterRetry: @Sendable () -> Void

    init(store: DeliveryStore, concurrency: Int, limit: Int, lanes: Int,
         afterRetry: @escaping @Sendable () -> Void, logger: Logger) {
        self.store = store
        self.afterRetry = afterRetry
        self.concurrency = max(1, concurrency)
        self.limit = max(self.concurrency, limit)
        self.lanes = max(1, lanes)
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

    /// Records the outcome of an admitted send: at once when a lane is free, else with the others
    /// that complete meanwhile, in the next free lane.
    func submit(_ outcome: DeliveryStore.Outcome) {
        sending -= 1
        queued.append(outcome)
        letIn()
        startStatements()
    }

    /// An admitted send that has no outcome to record (or was not started).
    func withdraw() {
        sending -= 1
        inFlight -= 1
        letIn()
        wakeIfDrained()
    }

    /// No more sends will be admitted; returns once every message in flight has had its outcome
    /// recorded (or its statement failed). Called once, when the deliverer stops.
    func close() async {
        closed = true
        guard inFlight > 0 else { return }
        await withCheckedContinuation { drained = $0 }
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

    /// Gives the waiting outcomes to a free lane, if there is one.
    private func startStatements() {
        guard busyLanes < lanes, !queued.isEmpty else { return }
        let batch = queued
        queued.removeAll(keepingCapacity: true)
        busyLanes += 1
        let store = self.store, logger = self.logger
        Task {
            let ok = await Self.record(batch, store: store, logger: logger)
            self.finished(batch, ok: ok)
        }
    }

    private func finished(_ batch: [DeliveryStore.Outcome], ok: Bool) {
        busyLanes -= 1
        inFlight -= batch.count
        if !ok { failures += 1 }
        if ok, batch.contains(where: \.isRetry) { afterRetry() }
        letIn()
        startStatements()
        wakeIfDrained()
    }

    private func wakeIfDrained() {
        guard closed, inFlight == 0, let drained else { return }
        self.drained = nil
        drained.resume()
    }

    private static func record(_ outcomes: [DeliveryStore.Outcome], store: DeliveryStore, logger: Logger) async -> Bool {
        do {
            let recorded = try await store.record(outcomes, logger: logger)
            for outcome in outcomes where !recorded.contains(outcome.id) {
                logger.warning("a delivery's lease ran out before its outcome was recorded; it may go out once more", metadata: ["delivery.id": "\(outcome.id)"])
            }
            return true
        } catch {
            logger.error("could not record delivery outcomes; they go out again when their lease runs out",
                         metadata: NotificationListener.errorMetadata(error).merging(["delivery.count": "\(outcomes.count)"]) { $1 })
            return false
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
