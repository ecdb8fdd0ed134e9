import AsyncHTTPClient
import Crypto
public import EscalationCore
public import Foundation
import NIOCore
import NIOHTTP1

/// How webhooks are signed and how long one may take.
public struct WebhookSettings: Sendable {
    /// The shared secret of the HMAC-SHA256 signature (`ESCALATED_WEBHOOK_SECRET`); never logged.
    public var secret: String
    public var timeout: Duration = .seconds(10)

    public init(secret: String) {
        self.secret = secret
    }
}

/// Posts each notification as JSON to the recipient's webhook (AsyncHTTPClient, TLS by URL).
///
/// Headers: `Idempotency-Key: escalated-delivery-<id>` (the same on every retry of a delivery),
/// `X-Escalated-Timestamp: <unix seconds>` and `X-Escalated-Signature: v1=<hex>`, the
/// HMAC-SHA256 of `<timestamp>.<body>` under the shared secret. 2xx is delivered; 408, 429,
/// 5xx, timeouts and connection failures are retried; any other status dead-letters at once.
public struct WebhookTransport: Sendable {
    public let settings: WebhookSettings

    public init(settings: WebhookSettings) {
        self.settings = settings
    }

    /// `v1=` and the hex HMAC-SHA256 of `timestamp.body` under `secret`.
    public static func signature(secret: String, timestamp: Int, body: Data) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return "v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    public func send(url: String, body: Data, deliveryID: Int64, now: Date = Date()) async -> DeliveryOutcome {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return .permanent("not an http(s) URL: \(url.prefix(200))")
        }
        let timestamp = Int(now.timeIntervalSince1970)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "escalated")
        request.headers.add(name: "Idempotency-Key", value: "escalated-delivery-\(deliveryID)")
        request.headers.add(name: "X-Escalated-Timestamp", value: "\(timestamp)")
        request.headers.add(name: "X-Escalated-Signature", value: Self.signature(secret: settings.secret, timestamp: timestamp, body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        let timeout = TimeAmount.nanoseconds(Int64(settings.timeout.components.seconds) * 1_000_000_000 + settings.timeout.components.attoseconds / 1_000_000_000)
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            // Drain a little of the answer for the record; never more than 1 KiB.
            let answer = (try? await response.body.collect(upTo: 1024)).map { String(buffer: $0) } ?? ""
            return .http(status: Int(response.status.code), text: (response.status.reasonPhrase + " " + answer).trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            return .transient("webhook \(parsed.host ?? "?") failed: \(error)")
        }
    }
}
