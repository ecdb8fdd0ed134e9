import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization

/// Which phase of an HTTP/1.1 connection is timed, as a pure state machine (no I/O, no clock).
///
/// At most one deadline is armed at a time, and none while a response is being written: a
/// Server-Sent Events stream or a slow handler is never cut. The header deadline runs from the
/// connection's open, or from the first byte of a request on a kept-alive connection, until the
/// request head is complete (bytes trickling in do not extend it); the body deadline from the
/// head to the end of the body; the idle deadline from the end of the last response, with no
/// request being read, until the next request's first byte.
struct HTTPConnectionDeadlines: Equatable {
    enum Deadline: String, Sendable, CaseIterable {
        case header = "header_timeout"
        case body = "body_timeout"
        case idle = "idle_timeout"
    }

    enum Action: Equatable {
        /// Cancel the armed timer, if any, and start this one.
        case arm(Deadline)
        /// Cancel the armed timer.
        case disarm
        case none
    }

    private(set) var armed: Deadline?
    /// Request heads read whose response has not ended yet (more than one when pipelined).
    private(set) var responsesPending = 0
    /// A request head was read and its end was not.
    private(set) var readingBody = false

    init() {}

    /// The connection opened: its first request head is awaited.
    mutating func opened() -> Action { arm(.header) }

    /// Bytes came from the socket; `decodedParts` says whether they completed any part of a request.
    mutating func bytesArrived(decodedParts: Bool) -> Action {
        // The first bytes of the next request on an idle connection start its header deadline.
        armed == .idle && !decodedParts ? arm(.header) : .none
    }

    mutating func headRead() -> Action {
        responsesPending += 1
        readingBody = true
        return arm(.body)
    }

    mutating func endRead() -> Action {
        readingBody = false
        // Answered before its body was read (a refusal): the connection is idle once the body is in.
        return responsesPending == 0 ? arm(.idle) : disarm()
    }

    mutating func responseEnded() -> Action {
        responsesPending = max(0, responsesPending - 1)
        return responsesPending == 0 && !readingBody ? arm(.idle) : .none
    }

    /// The armed deadline passed: the connection is to be closed, counted under its reason.
    mutating func fired() -> Deadline? {
        defer { armed = nil }
        return armed
    }

    private mutating func arm(_ deadline: Deadline) -> Action {
        armed = deadline
        return .arm(deadline)
    }

    private mutating func disarm() -> Action {
        guard armed != nil else { return .none }
        armed = nil
        return .disarm
    }
}

/// The daemon's open HTTP connections: the cap, the count, and their metrics, shared by every
/// connection's ``HTTPConnectionGuard``.
final class HTTPConnectionTracker: Sendable {
    let limits: HTTPLimits
    private let logger: Logger
    private let open = Atomic<Int>(0)
    /// Refused connections waiting out their linger (their 503 read, their request drained).
    private let lingering = Atomic<Int>(0)
    private let openGauge = Gauge(label: "escalated_http_connections_open")
    private let closedByDeadline: [HTTPConnectionDeadlines.Deadline: Counter]
    private let refusedCounter = Counter(label: "escalated_http_connections_closed_total", dimensions: [("reason", "refused")])
    /// When the last warning about refusals was logged, and refusals since.
    private let warning = Mutex<(last: ContinuousClock.Instant?, refused: Int)>((nil, 0))

    /// Refused connections beyond this many lingering at once are closed without an answer.
    static let maximumLingering = 64
    /// How long a refused connection stays open for its client to read the 503.
    static let linger: TimeAmount = .seconds(1)
    /// At most one warning about refused connections per this interval.
    static let warningInterval: Duration = .seconds(60)

    init(limits: HTTPLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
        closedByDeadline = Dictionary(uniqueKeysWithValues: HTTPConnectionDeadlines.Deadline.allCases.map {
            ($0, Counter(label: "escalated_http_connections_closed_total", dimensions: [("reason", $0.rawValue)]))
        })
        openGauge.record(0)
    }

    /// The HTTP/1.1 server with a guard on every connection.
    func server() -> HTTPServerBuilder {
        .http1(configuration: .init(additionalChannelHandlers: [HTTPConnectionGuard.Installer(tracker: self)]))
    }

    /// Counts a new connection in; false when the cap is reached (it is then not counted).
    func admit() -> Bool {
        let count = open.wrappingAdd(1, ordering: .relaxed).newValue
        guard count <= limits.maxConnections else {
            open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        openGauge.record(count)
        return true
    }

    /// An admitted connection closed.
    func release() {
        openGauge.record(open.wrappingSubtract(1, ordering: .relaxed).newValue)
    }

    func closed(by deadline: HTTPConnectionDeadlines.Deadline) {
        closedByDeadline[deadline]?.increment()
    }

    /// Counts a refusal and says whether the connection may linger to be answered.
    func refused() -> Bool {
        refusedCounter.increment()
        let now = ContinuousClock.now
        let report: Int? = warning.withLock { state in
            state.refused += 1
            guard state.last.map({ now - $0 >= Self.warningInterval }) ?? true else { return nil }
            defer { state = (now, 0) }
            return state.refused
        }
        if let report {
            logger.warning("HTTP connections refused: the open connection cap is reached", metadata: [
                "http.connections.max": "\(limits.maxConnections)", "http.connections.refused": "\(report)",
            ])
        }
        guard lingering.wrappingAdd(1, ordering: .relaxed).newValue <= Self.maximumLingering else {
            lingering.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func lingerEnded() {
        lingering.wrappingSubtract(1, ordering: .relaxed)
    }
}

/// Enforces ``HTTPLimits`` on one connection: closes it when a deadline of
/// ``HTTPConnectionDeadlines`` passes, and answers `503` (with `Retry-After` and
/// `Connection: close`) when the connection cap is reached.
///
/// It sits right after NIO's HTTP/1 decoder, where request parts appear once complete and every
/// socket read still shows as `channelReadComplete`. Hummingbird's own `idleTimeout` is left off:
/// it is one timer reset by each request part, so a body trickled part by part never ends, and it
/// does not tell a stalled head from an idle keep-alive connection.
final class HTTPConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let tracker: HTTPConnectionTracker
    private var deadlines = HTTPConnectionDeadlines()
    private var timer: Scheduled<Void>?
    private enum Admission { case pending, admitted, refused, released }
    private var admission = Admission.pending
    private var decodedParts = false

    init(tracker: HTTPConnectionTracker) {
        self.tracker = tracker
    }

    /// Added by Hummingbird among its additional handlers (after its HTTP types codec), it puts
    /// the guard right after NIO's HTTP/1 decoder instead and leaves.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = Never
        private let tracker: HTTPConnectionTracker

        init(tracker: HTTPConnectionTracker) {
            self.tracker = tracker
        }

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            do {
                let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
                try pipeline.addHandler(HTTPConnectionGuard(tracker: tracker), position: .after(decoder))
            } catch {
                context.fireErrorCaught(error)
            }
            pipeline.removeHandler(context: context, promise: nil)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { activate(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        activate(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        switch admission {
        case .admitted: tracker.release()
        case .refused: tracker.lingerEnded()
        case .pending, .released: break
        }
        admission = .released
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A refused connection's request is read and dropped, so closing it sends no reset.
        guard admission == .admitted else { return }
        decodedParts = true
        switch unwrapInboundIn(data) {
        case .head: perform(deadlines.headRead(), context)
        case .body: break
        case .end: perform(deadlines.endRead(), context)
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if admission == .admitted { perform(deadlines.bytesArrived(decodedParts: decodedParts), context) }
        decodedParts = false
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { perform(deadlines.responseEnded(), context) }
        context.write(data, promise: promise)
    }

    private func activate(_ context: ChannelHandlerContext) {
        guard admission == .pending else { return }
        guard tracker.admit() else {
            refuse(context)
            return
        }
        admission = .admitted
        perform(deadlines.opened(), context)
    }

    /// Answers 503 and closes after ``HTTPConnectionTracker/linger``, or at once when too many
    /// refused connections linger already.
    private func refuse(_ context: ChannelHandlerContext) {
        guard tracker.refused() else {
            context.close(promise: nil)
            return
        }
        admission = .refused
        let text = "too many connections; try again shortly\n"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        headers.add(name: "Retry-After", value: "5")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .serviceUnavailable, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: HTTPConnectionTracker.linger) {
            context.close(promise: nil)
        }
    }

    private func perform(_ action: HTTPConnectionDeadlines.Action, _ context: ChannelHandlerContext) {
        switch action {
        case .none:
            return
        case .disarm:
            timer?.cancel()
            timer = nil
        case .arm(let deadline):
            timer?.cancel()
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout(deadline)) { [self] in
                timer = nil
                guard let passed = deadlines.fired() else { return }
                tracker.closed(by: passed)
                context.close(promise: nil)
            }
        }
    }

    private func timeout(_ deadline: HTTPConnectionDeadlines.Deadline) -> TimeAmount {
        let limits = tracker.limits
        return switch deadline {
        case .header: TimeAmount(limits.headerTimeout)
        case .body: TimeAmount(limits.bodyTimeout)
        case .idle: TimeAmount(limits.idleTimeout)
        }
    }
}
