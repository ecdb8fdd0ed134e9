import Synchronization

/// One open stream's queue: the feed posts to it, the stream takes everything waiting at once.
///
/// A stream that keeps up takes one message at a time; one that falls behind (a busy host, a slow
/// network) takes what piled up in one go and writes it as one buffer, so the cost of a message
/// falls as the load rises instead of the queue growing. Past ``limit`` messages waiting, the
/// mailbox closes: the browser reconnects with its Last-Event-ID and replays from the table.
final class LiveMailbox: Sendable {
    private struct State {
        var pending: [LiveMessage] = []
        var waiter: CheckedContinuation<[LiveMessage]?, Never>?
        var closed = false
    }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    /// Adds `messages`; false when the mailbox is closed, now or before (too far behind, or ended).
    @discardableResult
    func post(_ messages: [LiveMessage]) -> Bool {
        guard !messages.isEmpty else { return true }
        let (waiter, taken, accepted): (CheckedContinuation<[LiveMessage]?, Never>?, [LiveMessage]?, Bool) = state.withLock { state in
            guard !state.closed else { return (nil, nil, false) }
            if let waiter = state.waiter {
                // A waiter means nothing was pending.
                state.waiter = nil
                return (waiter, messages, true)
            }
            guard state.pending.count + messages.count <= limit else {
                state.closed = true
                state.pending.removeAll()
                return (nil, nil, false)
            }
            state.pending += messages
            return (nil, nil, true)
        }
        waiter?.resume(returning: taken)
        return accepted
    }

    /// Ends the mailbox: the stream's next take returns what is left, then nil.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<[LiveMessage]?, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Everything waiting (at least one message), or nil once closed and empty or when the task is
    /// cancelled.
    func take() async -> [LiveMessage]? {
        if let ready = state.withLock({ state -> [LiveMessage]?? in
            if !state.pending.isEmpty {
                defer { state.pending.removeAll(keepingCapacity: true) }
                return .some(state.pending)
            }
            return state.closed ? .some(nil) : .none
        }) {
            return ready
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[LiveMessage]?, Never>) in
                let resumeNow: [LiveMessage]?? = state.withLock { state in
                    if !state.pending.isEmpty {
                        defer { state.pending.removeAll(keepingCapacity: true) }
                        return .some(state.pending)
                    }
                    if state.closed || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            close()
        }
    }
}

extension LiveMailbox {
    /// The takes as a sequence (it ends when the mailbox closes and is empty).
    struct Batches: AsyncSequence, Sendable {
        typealias Element = [LiveMessage]
        let mailbox: LiveMailbox

        struct AsyncIterator: AsyncIteratorProtocol {
            let mailbox: LiveMailbox
            mutating func next() async -> [LiveMessage]? { await mailbox.take() }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(mailbox: mailbox) }
    }

    var batches: Batches { Batches(mailbox: self) }
}
