import EscalationCore
public import EscalationStore
import Foundation
public import Logging
import Metrics
import NIOCore
public import ServiceLifecycle
import Synchronization

/// What happened, for the open pages: one history event of an issue, or a heartbeat.
struct LiveMessage: Sendable, Equatable {
    var event: EventFeedStore.Event?
    /// The event as Server-Sent Events text, made once for every stream it goes to.
    var chunk: ByteBuffer

    init(event: EventFeedStore.Event?) {
        self.event = event
        chunk = ByteBuffer(string: event.map(WebApp.sse) ?? ": ping\n\n")
    }

    static let heartbeat = LiveMessage(event: nil)
}

/// The live feed of one daemon: one reader of the history (woken by the events trigger's NOTIFY
/// through the daemon's one LISTEN connection, and every two seconds underneath), fanned out in
/// memory to every open stream whose viewer may see the issue.
///
/// The feed starts at the newest event when the daemon starts and never skips one: ids that commit
/// out of order are asked for again (``FeedCursor``). A stream that reconnects catches up from its
/// `Last-Event-ID` with one scoped read, so nothing is lost between two connections either.
public final class LiveFeed: Service, Sendable {
    let store: EventFeedStore
    let logger: Logger
    let poll: Duration
    let heartbeatEvery: Duration
    private let wake: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    private let state = Mutex(State())

    private struct State {
        var cursor: FeedCursor?
        var subscribers: [Int: Subscriber] = [:]
        var nextID = 0
    }

    struct Subscriber {
        var actor: Actor
        var mailbox: LiveMailbox
    }

    /// Messages a stream may have waiting before it is ended (it reconnects and replays).
    static let mailboxLimit = 2000

    public init(store: EventFeedStore, logger: Logger, poll: Duration = .seconds(2), heartbeat: Duration = .seconds(15)) {
        self.store = store
        self.logger = logger
        self.poll = poll
        heartbeatEvery = heartbeat
        (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// History was written: read it soon (calls coalesce).
    public func wakeUp() {
        wakeContinuation.yield()
    }

    /// Where a page rendered now starts its stream: the newest event handed out, or, while nobody
    /// is listening (the feed then reads nothing), the newest in the table.
    func latestID() async throws -> Int64 {
        if let highest = state.withLock({ $0.cursor?.highest }) { return highest }
        return try await store.latestID(logger: logger)
    }

    /// Makes the feed follow from the newest event now, if it was not following: a stream calls it
    /// after subscribing and before replaying what it missed, so that the replay and the feed
    /// overlap rather than leave a gap.
    func prime() async throws {
        guard state.withLock({ $0.cursor == nil }) else { return }
        let start = try await store.latestID(logger: logger)
        state.withLock { $0.cursor = $0.cursor ?? FeedCursor(highest: start) }
    }

    /// Open streams, for the metrics and tests.
    var streamCount: Int { state.withLock { $0.subscribers.count } }

    /// A mailbox of what `actor` may see, from now on; it closes when the feed stops. The stream
    /// calls ``unsubscribe(_:)`` when it ends.
    func subscribe(actor: Actor) -> (id: Int, mailbox: LiveMailbox) {
        let mailbox = LiveMailbox(limit: Self.mailboxLimit)
        let id = state.withLock { state in
            state.nextID += 1
            state.subscribers[state.nextID] = Subscriber(actor: actor, mailbox: mailbox)
            return state.nextID
        }
        Gauge(label: "escalated.web.streams").record(streamCount)
        return (id, mailbox)
    }

    func unsubscribe(_ id: Int) {
        let removed = state.withLock { $0.subscribers.removeValue(forKey: id) }
        removed?.mailbox.close()
        Gauge(label: "escalated.web.streams").record(streamCount)
    }

    public func run() async throws {
        let ticker = Task { [poll, wakeContinuation] in
            while !Task.isCancelled {
                try? await Task.sleep(for: poll)
                wakeContinuation.yield()
            }
        }
        let heartbeat = Task { [heartbeatEvery] in
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeatEvery)
                self.broadcast([.heartbeat])
            }
        }
        defer {
            ticker.cancel()
            heartbeat.cancel()
            // Open streams end, so that their HTTP responses finish and the server can stop.
            let subscribers = state.withLock { state in
                defer { state.subscribers.removeAll() }
                return Array(state.subscribers.values)
            }
            for subscriber in subscribers { subscriber.mailbox.close() }
        }
        wakeContinuation.yield()
        for await _ in wake.cancelOnGracefulShutdown() {
            await readOnce()
        }
    }

    /// Reads what is new and hands it out; a failed read is retried at the next wake-up.
    func readOnce() async {
        do {
            // Nobody listening: read nothing, and forget the place (the next stream primes the
            // feed at the newest event and replays what came before from the table). Reading and
            // joining every event took a third of the router's throughput on two cores.
            let idle = state.withLock { state in
                if state.subscribers.isEmpty { state.cursor = nil }
                return state.subscribers.isEmpty
            }
            if idle { return }
            guard var cursor = state.withLock({ $0.cursor }) else {
                try await prime()
                return
            }
            while true {
                let events = try await store.events(after: cursor.highest, missing: cursor.missingIDs, limit: 1000, logger: logger)
                let fresh = cursor.advance(with: events)
                state.withLock { $0.cursor = cursor }
                broadcast(fresh.map(LiveMessage.init(event:)))
                if events.count < 1000 { break }
            }
        } catch {
            logger.warning("live feed read failed; retrying at the next wake-up", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Hands each stream, in one post, the messages its viewer may see.
    private func broadcast(_ messages: [LiveMessage]) {
        guard !messages.isEmpty else { return }
        let targets = state.withLock { state in state.subscribers.map { ($0.key, $0.value) } }
        var ended: [Int] = []
        for (id, subscriber) in targets {
            let visible = messages.filter { $0.event?.isVisible(to: subscriber.actor) ?? true }
            // A stream too far behind to hold more ends: the browser reconnects with its
            // Last-Event-ID and replays what it missed from the table (or reloads), never skipping.
            if !subscriber.mailbox.post(visible) { ended.append(id) }
        }
        for id in ended { unsubscribe(id) }
    }
}
