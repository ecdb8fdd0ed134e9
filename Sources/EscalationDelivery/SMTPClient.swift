public import EscalationCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Where and how to reach the mail server: `ESCALATED_SMTP_URL`.
///
/// `smtp://[USER:PASSWORD@]HOST[:PORT][?starttls=required|opportunistic]` (port 25 by default,
/// STARTTLS opportunistic by default) or `smtps://...` (TLS from the first byte, port 465).
/// Certificates are verified against the system's trust roots.
public struct SMTPSettings: Sendable, CustomStringConvertible {
    public enum StartTLS: String, Sendable {
        case required
        case opportunistic
    }

    public var host: String
    public var port: Int
    public var implicitTLS: Bool
    public var startTLS: StartTLS
    public var username: String?
    public var password: String?
    /// The name this client gives in EHLO.
    public var heloName: String = "localhost"
    /// A PEM file of certificate authorities to trust instead of the system's (a private CA);
    /// `ESCALATED_SMTP_CA_FILE`.
    public var caFile: String?
    /// The longest any one step may take (connect, each reply).
    public var timeout: Duration = .seconds(30)

    public init(host: String, port: Int, implicitTLS: Bool = false, startTLS: StartTLS = .opportunistic, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.implicitTLS = implicitTLS
        self.startTLS = startTLS
        self.username = username
        self.password = password
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads an `smtp://` or `smtps://` URL; the error names what is wrong, never the password.
    public init(url text: String) throws(Invalid) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), scheme == "smtp" || scheme == "smtps" else {
            throw Invalid(description: "ESCALATED_SMTP_URL must look like smtp://user:password@host:587?starttls=required or smtps://host:465")
        }
        guard let host = components.host, !host.isEmpty else { throw Invalid(description: "ESCALATED_SMTP_URL has no host") }
        let implicit = scheme == "smtps"
        let port = components.port ?? (implicit ? 465 : 25)
        guard (1...65535).contains(port) else { throw Invalid(description: "ESCALATED_SMTP_URL has a bad port") }
        var startTLS = StartTLS.opportunistic
        for item in components.queryItems ?? [] {
            guard item.name == "starttls", let value = item.value.flatMap(StartTLS.init(rawValue:)) else {
                throw Invalid(description: "ESCALATED_SMTP_URL accepts only starttls=required or starttls=opportunistic")
            }
            startTLS = value
        }
        self.init(host: host, port: port, implicitTLS: implicit, startTLS: startTLS,
                  username: components.percentEncodedUser.flatMap { $0.removingPercentEncoding },
                  password: components.percentEncodedPassword.flatMap { $0.removingPercentEncoding })
    }

    /// For logs: the server, never the credentials.
    public var description: String { "\(implicitTLS ? "smtps" : "smtp")://\(host):\(port)" }
}

/// The email hook: sends each message over one SMTP session (RFC 5321) on SwiftNIO, with
/// STARTTLS or implicit TLS (swift-nio-ssl), AUTH PLAIN or LOGIN, and a timeout on every step.
///
/// Replies decide the outcome: 2xx/3xx go on, 4xx is transient (retried), 5xx permanent; a
/// connection that fails or a step that times out is transient.
public struct SMTPTransport: MailTransport {
    public let settings: SMTPSettings
    public var name: String { "smtp" }
    private let group: any EventLoopGroup
    private let pool: SMTPSessionPool

    public init(settings: SMTPSettings) {
        self.settings = settings
        self.group = MultiThreadedEventLoopGroup.singleton
        self.pool = SMTPSessionPool()
    }

    public func send(_ message: MailMessage) async -> DeliveryOutcome {
        // A session kept from an earlier message saves the connection, TLS and AUTH; the server
        // may have closed it meanwhile, so one that fails before the message starts is replaced.
        while let session = await pool.take() {
            switch await transmit(message, on: session) {
            case .reusable(let outcome):
                await pool.put(session)
                return outcome
            case .finished(let outcome):
                session.close()
                return outcome
            case .stale:
                session.close()
            }
        }
        let session: SMTPSession
        do {
            session = try await SMTPSession.connect(settings: settings, group: group)
            try await session.open()
        } catch let failure as SMTPFailure {
            return failure.outcome
        } catch {
            return .transient("cannot connect to \(settings): \(error)")
        }
        switch await transmit(message, on: session) {
        case .reusable(let outcome):
            await pool.put(session)
            return outcome
        case .finished(let outcome), .stale(let outcome):
            session.close()
            return outcome
        }
    }

    enum Transmission {
        /// The session is at rest and can carry another message.
        case reusable(DeliveryOutcome)
        /// The session must be closed.
        case finished(DeliveryOutcome)
        /// The session died before the message started (a kept session the server closed).
        case stale(DeliveryOutcome)
    }

    private func transmit(_ message: MailMessage, on session: SMTPSession) async -> Transmission {
        do {
            let outcome = try await session.transmit(message)
            return .reusable(outcome)
        } catch let failure as SMTPFailure {
            // The server refused this message; RSET makes the session usable for the next one.
            if (try? await session.command("RSET", step: "RSET"))?.code == 250 { return .reusable(failure.outcome) }
            return .finished(failure.outcome)
        } catch let error as SMTPSessionError {
            return .stale(.transient("SMTP session with \(settings) failed: \(error.underlying)"))
        } catch {
            return .finished(.transient("SMTP session with \(settings) failed: \(error)"))
        }
    }
}

/// Sessions at rest, ready for another message; at most 16 are kept.
actor SMTPSessionPool {
    private var idle: [(SMTPSession, ContinuousClock.Instant)] = []

    func take() -> SMTPSession? {
        // Sessions idle for a minute are dropped: servers close them sooner or later.
        while let (session, since) = idle.popLast() {
            if ContinuousClock.now - since < .seconds(60) { return session }
            session.close()
        }
        return nil
    }

    func put(_ session: SMTPSession) {
        if idle.count >= 16 {
            session.close()
        } else {
            idle.append((session, .now))
        }
    }
}

/// A kept session failed before the message started.
struct SMTPSessionError: Error {
    var underlying: any Error
}

/// A reply that ends a session early, with its outcome.
struct SMTPFailure: Error {
    var outcome: DeliveryOutcome
}

/// One SMTP reply: the code and its text lines.
struct SMTPReply: Sendable {
    var code: Int
    var lines: [String]
    var text: String { lines.joined(separator: " ") }
}

/// Splits the byte stream into replies (multi-line replies use `NNN-` on all but the last line).
final class SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply
    private var lines: [String] = []

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let end = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 64 * 1024 { throw SMTPProtocolError.lineTooLong }
            return .needMoreData
        }
        let length = end - buffer.readerIndex + 1
        guard var bytes = buffer.readBytes(length: length) else { return .needMoreData }
        // Read as bytes: the code is three ASCII digits, the text after the separator UTF-8.
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard bytes.count >= 3, bytes[0..<3].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw SMTPProtocolError.badReply(String(decoding: bytes, as: UTF8.self))
        }
        let code = bytes[0..<3].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let separator = bytes.count > 3 ? bytes[3] : nil
        lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        if separator == UInt8(ascii: "-") { return .continue }
        context.fireChannelRead(wrapInboundOut(SMTPReply(code: code, lines: lines)))
        lines = []
        return .continue
    }
}

enum SMTPProtocolError: Error, CustomStringConvertible {
    case lineTooLong
    case badReply(String)
    case closed
    case timeout(String)
    case startTLSUnavailable

    var description: String {
        switch self {
        case .lineTooLong: return "a reply line longer than 64 KiB"
        case .badReply(let line): return "not an SMTP reply: \(line.prefix(100))"
        case .closed: return "the server closed the connection"
        case .timeout(let step): return "no reply to \(step) in time"
        case .startTLSUnavailable: return "the server does not offer STARTTLS, which is required"
        }
    }
}

/// Hands each reply to the oldest waiting promise.
final class SMTPReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = SMTPReply
    // Touched only on the channel's event loop.
    private var waiting = CircularBuffer<EventLoopPromise<SMTPReply>>()
    private var early: [SMTPReply] = []
    /// Set once the connection failed or closed: later waits fail at once (a TLS handshake can
    /// fail before anyone waits for the greeting).
    private var failure: (any Error)?

    func expect(_ promise: EventLoopPromise<SMTPReply>) {
        if !early.isEmpty {
            promise.succeed(early.removeFirst())
        } else if let failure {
            promise.fail(failure)
        } else {
            waiting.append(promise)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        if let promise = waiting.popFirst() { promise.succeed(reply) } else { early.append(reply) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if failure == nil { failure = error }
        while let promise = waiting.popFirst() { promise.fail(error) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if failure == nil { failure = SMTPProtocolError.closed }
        while let promise = waiting.popFirst() { promise.fail(failure ?? SMTPProtocolError.closed) }
        context.fireChannelInactive()
    }
}

/// One connection to the server.
final class SMTPSession: Sendable {
    let channel: any Channel
    let handler: SMTPReplyHandler
    let settings: SMTPSettings

    init(channel: any Channel, handler: SMTPReplyHandler, settings: SMTPSettings) {
        self.channel = channel
        self.handler = handler
        self.settings = settings
    }

    /// TLS with full verification: the certificate chain (system roots, or `caFile`) and the
    /// host name, or the IP address when the host is one (SNI carries names only).
    static func tlsHandler(_ settings: SMTPSettings) throws -> NIOSSLClientHandler {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile = settings.caFile { configuration.trustRoots = .file(caFile) }
        let context = try NIOSSLContext(configuration: configuration)
        let isAddress = settings.host.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" } && settings.host.contains { $0 == "." || $0 == ":" }
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : settings.host)
    }

    static func connect(settings: SMTPSettings, group: any EventLoopGroup) async throws -> SMTPSession {
        let handler = SMTPReplyHandler()
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(Int64(settings.timeout.components.seconds) * 1_000_000_000))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if settings.implicitTLS { try channel.pipeline.syncOperations.addHandler(try tlsHandler(settings)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: settings.host, port: settings.port).get()
        return SMTPSession(channel: channel, handler: handler, settings: settings)
    }

    /// What follows DATA: the message's lines dot-stuffed (RFC 5321 4.5.2: a line that starts
    /// with a dot gets another), then the line with a single dot. `rendered` ends in CRLF. Done on
    /// the UTF-8 bytes: a line starts at the beginning or after CR LF.
    static func dataBlock(_ rendered: String) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(rendered.utf8.count + 64)
        var previous: (UInt8, UInt8) = (UInt8(ascii: "\r"), UInt8(ascii: "\n"))
        for byte in rendered.utf8 {
            if byte == UInt8(ascii: "."), previous == (UInt8(ascii: "\r"), UInt8(ascii: "\n")) { out.writeInteger(UInt8(ascii: ".")) }
            out.writeInteger(byte)
            previous = (previous.1, byte)
        }
        if previous != (UInt8(ascii: "\r"), UInt8(ascii: "\n")) { out.writeString("\r\n") }
        out.writeString(".\r\n")
        return out
    }

    /// Sends `line` (CRLF added; nil to only wait, as for the greeting) and waits for the reply.
    func command(_ line: String?, step: String) async throws -> SMTPReply {
        try await command(bytes: line.map { ByteBuffer(string: $0 + "\r\n") }, step: step)
    }

    /// Sends `bytes` as they are (nil to only wait) and waits for the reply.
    func command(bytes: ByteBuffer?, step: String) async throws -> SMTPReply {
        let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
        let timeout = settings.timeout
        channel.eventLoop.execute { [handler, channel] in
            handler.expect(promise)
            let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)) {
                promise.fail(SMTPProtocolError.timeout(step))
                channel.close(promise: nil)
            }
            promise.futureResult.whenComplete { _ in deadline.cancel() }
            if let bytes { channel.writeAndFlush(bytes, promise: nil) }
        }
        return try await promise.futureResult.get()
    }

    /// Runs a step; a reply outside 2xx/3xx ends the session with its outcome.
    @discardableResult
    func step(_ line: String?, _ name: String) async throws -> SMTPReply {
        let reply = try await command(line, step: name)
        guard (200..<400).contains(reply.code) else {
            throw SMTPFailure(outcome: .smtp(code: reply.code, text: "\(name): \(reply.text)"))
        }
        return reply
    }

    /// Greeting, EHLO, STARTTLS when offered or required, AUTH when configured.
    func open() async throws {
        try await step(nil, "greeting")
        var capabilities = try await step("EHLO \(settings.heloName)", "EHLO").lines.map { $0.uppercased() }
        if !settings.implicitTLS {
            let offered = capabilities.contains { $0.hasPrefix("STARTTLS") }
            if offered {
                try await step("STARTTLS", "STARTTLS")
                let settings = self.settings
                try await channel.eventLoop.submit { [channel] in
                    try channel.pipeline.syncOperations.addHandler(try Self.tlsHandler(settings), position: .first)
                }.get()
                capabilities = try await step("EHLO \(settings.heloName)", "EHLO").lines.map { $0.uppercased() }
            } else if settings.startTLS == .required {
                throw SMTPFailure(outcome: .transient(SMTPProtocolError.startTLSUnavailable.description))
            }
        }
        if let user = settings.username, let password = settings.password {
            let auth = capabilities.first { $0.hasPrefix("AUTH") }?.split(separator: " ").map(String.init) ?? []
            if auth.contains("PLAIN") || !auth.contains("LOGIN") {
                let token = Data(("\0" + user + "\0" + password).utf8).base64EncodedString()
                try await step("AUTH PLAIN " + token, "AUTH PLAIN")
            } else {
                try await step("AUTH LOGIN", "AUTH LOGIN")
                try await step(Data(user.utf8).base64EncodedString(), "AUTH LOGIN user")
                try await step(Data(password.utf8).base64EncodedString(), "AUTH LOGIN password")
            }
        }
    }

    /// One message on an open session: MAIL FROM, RCPT TO, DATA. A failure to even send MAIL FROM
    /// is an ``SMTPSessionError`` (the session was dead); a refusal is an ``SMTPFailure``.
    func transmit(_ message: MailMessage) async throws -> DeliveryOutcome {
        do {
            try await step("MAIL FROM:<\(message.from.address)>", "MAIL FROM")
        } catch let failure as SMTPFailure {
            throw failure
        } catch {
            throw SMTPSessionError(underlying: error)
        }
        for recipient in message.to {
            try await step("RCPT TO:<\(recipient.address)>", "RCPT TO")
        }
        try await step("DATA", "DATA")
        let reply = try await command(bytes: Self.dataBlock(message.rendered()), step: "end of data")
        let outcome = DeliveryOutcome.smtp(code: reply.code, text: reply.text)
        if case .sent = outcome { return outcome }
        throw SMTPFailure(outcome: outcome)
    }

    func close() {
        channel.eventLoop.execute { [channel] in
            // QUIT politely, then close; nobody waits for the answer.
            if channel.isActive { channel.writeAndFlush(ByteBuffer(string: "QUIT\r\n"), promise: nil) }
            channel.close(promise: nil)
        }
    }
}
