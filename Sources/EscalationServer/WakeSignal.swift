import ServiceLifecycle
import Synchronization

/// A coalescing wake-up: any number of signals while the consumer is busy count as one.
///
/// Notifications, the poll ticker and the catch-up after a (re)connect all feed the same signal,
/// so the consumer never queues work per notification and can never miss the last one.
public final class WakeSignal: Sendable {
    let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    public init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks the consumer to run once more (soon, or right after its current run).
    public func signal() {
        continuation.yield()
    }
}

extension WakeSignal {
    /// The loop of a woken service: runs `work` at once and after every signal, then `plan`
    /// (which schedules the next look on `timer`), until graceful shutdown.
    func runUntilShutdown(timer: WakeTimer, work: () async -> Void, plan: () async -> Void) async {
        signal()
        for await _ in stream.cancelOnGracefulShutdown() {
            await work()
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            await plan()
        }
        timer.cancel()
    }
}

/// Signals a ``WakeSignal`` once after a delay; scheduling again replaces the pending wake-up.
final class WakeTimer: Sendable {
    private let pending = Mutex<Task<Void, Never>?>(nil)

    /// Plans the next look: `secondsUntilDue` from now (asked of the database; nil when nothing
    /// waits), at most `poll`; when something is already due but was not claimable (another
    /// daemon holds it), after `retryDue`, so the loop never spins.
    func schedule(_ signal: WakeSignal, secondsUntilDue: Double?, poll: Duration, retryDue: Duration) {
        var delay = poll
        if let seconds = secondsUntilDue {
            delay = min(delay, seconds <= 0 ? retryDue : .milliseconds(Int64((seconds * 1000).rounded(.up)) + 1))
        }
        let task = Task {
            do { try await Task.sleep(for: delay) } catch { return }
            signal.signal()
        }
        pending.withLock { previous in
            previous?.cancel()
            previous = task
        }
    }

    func cancel() {
        pending.withLock { $0?.cancel() }
    }
}
