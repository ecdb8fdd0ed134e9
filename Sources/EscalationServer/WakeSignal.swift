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
