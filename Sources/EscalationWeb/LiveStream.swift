import EscalationCore
import EscalationStore
import Foundation
import Logging
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle

/// `GET /live`: Server-Sent Events of the issues in the viewer's scope.
///
/// Each message is one history event: `id:` the event id, `event: issue`, `data:` the issue id
/// and the event kind as JSON. The browser's EventSource sends the last id back as
/// `Last-Event-ID` when it reconnects; a page opened a moment ago passes the newest id it showed
/// as `?after=`. The stream first replays what it missed from the table (scoped, at most
/// ``catchUpLimit`` events, else it says `event: reload`), then follows the live feed.
extension WebApp {
    static let catchUpLimit = 500

    func stream(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else {
            return Response(status: .unauthorized, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: "sign in first\n")))
        }
        let resume = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
            ?? request.uri.queryParameters["after"].flatMap { Int64(String($0)) }
        // Subscribe before reading what was missed, so nothing falls between the two.
        let (subscription, mailbox) = live.subscribe(actor: viewer.actor)
        do { try await live.prime() } catch {
            live.unsubscribe(subscription)
            throw error
        }
        let feed = live
        let store = EventFeedStore(client: client)
        let sessions = self.sessions
        let secret = request.cookies[Self.sessionCookie]?.value ?? ""
        let logger = self.logger
        let actor = viewer.actor
        var headers: HTTPFields = [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store"]
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        for (name, value) in PageRenderer.securityHeaders { headers[name] = value }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var sent = Set<Int64>()
            var highest: Int64 = 0
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            if let resume, resume > 0 {
                let missed = try await store.events(after: resume, limit: Self.catchUpLimit + 1, logger: logger)
                if missed.count > Self.catchUpLimit {
                    try await writer.write(ByteBuffer(string: "event: reload\ndata: {}\n\n"))
                } else {
                    for event in missed where event.isVisible(to: actor) {
                        try await writer.write(ByteBuffer(string: Self.sse(event)))
                        sent.insert(event.id)
                        highest = max(highest, event.id)
                    }
                }
            }
            // Graceful shutdown ends the stream, so the server's drain does not wait on it.
            // What waits is written as one buffer: a stream that fell behind catches up in one write.
            defer { feed.unsubscribe(subscription) }
            var buffer = ByteBuffer()
            batches: for await batch in mailbox.batches.cancelOnGracefulShutdown() {
                buffer.clear()
                for message in batch {
                    guard let event = message.event else {
                        // Each heartbeat also checks the session: a stream ends with its session.
                        guard (try? await sessions.authenticate(secret, logger: logger)) != nil else { break batches }
                        buffer.writeImmutableBuffer(message.chunk)
                        continue
                    }
                    if event.id <= highest, sent.contains(event.id) { continue }
                    buffer.writeImmutableBuffer(message.chunk)
                    if sent.count < 10_000 { sent.insert(event.id) }
                    highest = max(highest, event.id)
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
            }
            try await writer.finish(nil)
        })
    }

    static func sse(_ event: EventFeedStore.Event) -> String {
        "id: \(event.id)\nevent: issue\ndata: {\"issue\":\(event.issueID),\"kind\":\"\(event.kind.filter { $0.isLetter || $0 == "_" })\"}\n\n"
    }
}
