import EscalationCore
import EscalationStore
import Foundation
@testable import EscalationWeb
import NIOCore
import Testing

@Suite("Web: a stream's mailbox (takes what waits at once, closes when too far behind)")
struct LiveMailboxTests {
    static func messages(_ ids: ClosedRange<Int64>) -> [LiveMessage] {
        ids.map { LiveMessage(event: LiveTests.event($0)) }
    }

    @Test("A take returns everything posted since the last one, in order, as one batch")
    func batches() async throws {
        let mailbox = LiveMailbox(limit: 100)
        #expect(mailbox.post(Self.messages(1...3)))
        #expect(mailbox.post(Self.messages(4...4)))
        let first = await mailbox.take()
        #expect(first?.compactMap(\.event?.id) == [1, 2, 3, 4])
        #expect(mailbox.post(Self.messages(5...6)))
        #expect(await mailbox.take()?.compactMap(\.event?.id) == [5, 6])
        #expect(mailbox.post([]), "posting nothing is no change")
    }

    @Test("A waiting take is woken by the next post, with exactly what it posted")
    func waiting() async throws {
        let mailbox = LiveMailbox(limit: 100)
        let taker = Task { await mailbox.take()?.compactMap(\.event?.id) }
        // Let the taker wait first (if it has not, it still gets the same batch).
        try await Task.sleep(for: .milliseconds(50))
        #expect(mailbox.post(Self.messages(10...12)))
        #expect(await taker.value == [10, 11, 12])
        #expect(mailbox.post(Self.messages(13...13)))
        #expect(await mailbox.take()?.compactMap(\.event?.id) == [13], "nothing taken twice, nothing lost")
    }

    @Test("Past the limit the mailbox closes and drops what waited: the browser replays from the table")
    func overflow() async throws {
        let mailbox = LiveMailbox(limit: 5)
        #expect(mailbox.post(Self.messages(1...5)))
        #expect(!mailbox.post(Self.messages(6...6)), "the sixth waiting message closes it")
        #expect(mailbox.isClosed)
        #expect(await mailbox.take() == nil)
        #expect(!mailbox.post(Self.messages(7...7)), "closed stays closed")
    }

    @Test("Closing ends a waiting take and the sequence; what was posted before is still taken")
    func closing() async throws {
        let mailbox = LiveMailbox(limit: 10)
        let waiting = Task { await mailbox.take() }
        try await Task.sleep(for: .milliseconds(50))
        mailbox.close()
        #expect(await waiting.value == nil)

        let other = LiveMailbox(limit: 10)
        other.post(Self.messages(1...2))
        other.close()
        var seen: [Int64] = []
        for await batch in other.batches { seen += batch.compactMap(\.event?.id) }
        #expect(seen == [1, 2])
    }

    @Test("Cancelling the task that waits ends its take")
    func cancelling() async throws {
        let mailbox = LiveMailbox(limit: 10)
        let waiting = Task { await mailbox.take() }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == nil)
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await LiveMailbox(limit: 10).take()
        }
        #expect(await early.value == nil, "a task cancelled before it takes does not wait")
    }

    @Test("A message's text is made once: the event's SSE message, or a comment for a heartbeat")
    func chunk() {
        let message = LiveMessage(event: LiveTests.event(42, issue: 7))
        #expect(String(buffer: message.chunk) == WebApp.sse(LiveTests.event(42, issue: 7)))
        #expect(String(buffer: LiveMessage.heartbeat.chunk) == ": ping\n\n")
    }
}
