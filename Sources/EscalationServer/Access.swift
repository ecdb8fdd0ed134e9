import EscalationCore
public import EscalationStore
import Foundation
import HTTPTypes
public import Hummingbird
public import EscalationWeb
import Logging
import NIOCore
import Synchronization

/// The request context of the API: Hummingbird's, plus who is calling (set by ``AuthMiddleware``).
public struct APIContext: RequestContext, WebRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller, for every `/v1` request that reached a handler.
    public var identity: TokenStore.Identity?
    /// The peer's IP address (sign-in attempts are throttled per address).
    public var clientAddress: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// Checks tokens, remembering valid ones for a few seconds so a busy client costs no database read
/// per request. Revocations through this daemon forget at once.
final class TokenAuthenticator: Sendable {
    let store: TokenStore
    let cacheTime: Duration
    private let cache = Mutex<[String: (identity: TokenStore.Identity, until: ContinuousClock.Instant)]>([:])

    init(store: TokenStore, cacheTime: Duration) {
        self.store = store
        self.cacheTime = cacheTime
    }

    func identity(for secret: String, logger: Logger) async throws -> TokenStore.Identity? {
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[secret] }), hit.until > now {
            if let expires = hit.identity.expiresAt, expires <= Date() { return nil }
            return hit.identity
        }
        guard let identity = try await store.authenticate(secret, logger: logger) else {
            cache.withLock { _ = $0.removeValue(forKey: secret) }
            return nil
        }
        cache.withLock {
            if $0.count >= 10_000 { $0.removeAll(keepingCapacity: true) }
            $0[secret] = (identity, now + cacheTime)
        }
        return identity
    }

    func forgetAll() {
        cache.withLock { $0.removeAll() }
    }
}

/// A token bucket per token: `rate` requests a second, `burst` at once.
final class RateLimiter: Sendable {
    let rate: Double
    let burst: Double
    private let buckets = Mutex<[Int64: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    /// nil when the request may go on; otherwise the seconds to wait.
    func wait(for key: Int64, now: ContinuousClock.Instant = .now) -> Int? {
        guard rate > 0 else { return nil }
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? (burst, now)
            let elapsed = bucket.at.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + max(0, seconds) * rate)
            bucket.at = now
            defer {
                if buckets.count >= 100_000 { buckets.removeAll(keepingCapacity: true) }
                buckets[key] = bucket
            }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }
}

/// Every `/v1` request carries `Authorization: Bearer <token>`; the token names the caller, whose
/// requests are limited per second. The token is never logged nor echoed.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let authenticator: TokenAuthenticator
    let limiter: RateLimiter

    static let missing = APIError(
        .unauthorized, code: "unauthorized", message: "Authorization: send Authorization: Bearer <token>", field: "Authorization",
        headers: [.wwwAuthenticate: #"Bearer realm="escalated""#])
    static let invalid = APIError(
        .unauthorized, code: "invalid_token", message: "Authorization: the token is unknown, revoked or expired", field: "Authorization",
        headers: [.wwwAuthenticate: #"Bearer realm="escalated", error="invalid_token""#])

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") || request.uri.path == "/v1" else { return try await next(request, context) }
        guard let header = request.headers[.authorization] else { throw Self.missing }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw Self.missing }
        let secret = parts[1].trimmingCharacters(in: .whitespaces)
        let identity: TokenStore.Identity?
        do {
            identity = try await authenticator.identity(for: secret, logger: context.logger)
        } catch {
            throw APIHandler.storeFailure(error, logger: context.logger)
        }
        guard let identity else { throw Self.invalid }
        if let seconds = limiter.wait(for: identity.tokenID) {
            throw APIError(.tooManyRequests, code: "rate_limited",
                           message: "Authorization: this token made more than \(limiter.rate.formatted()) requests a second; retry in \(seconds) s",
                           field: "Authorization", headers: [.retryAfter: "\(seconds)"])
        }
        var context = context
        context.identity = identity
        context.logger[metadataKey: "actor"] = .string(identity.actor.description)
        return try await next(request, context)
    }
}
