import Crypto
public import EscalationCore
import Foundation
import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// How web accounts behave: password hashing cost, password rules, link lifetimes, sessions and
/// sign-in throttling. Built once (environment, then defaults); tests pass their own.
public struct AccountSettings: Sendable {
    /// The bcrypt cost (log2 of its rounds) of new password hashes.
    ///
    /// Measured on this project's 2-core machine (release build, CPU time per hash): cost 10 took
    /// 75 ms, 11 took 150 ms, 12 took 300 ms. 11 makes each guess at a stolen hash cost 150 ms of
    /// a core, while NIO's thread pool (one thread per core) still checks about 13 sign-ins a
    /// second; at 12 a morning burst of sign-ins would queue twice as long. Hashes keep the cost
    /// they were made with.
    public static let defaultPasswordCost: UInt8 = 11

    public var passwordCost: UInt8 = Self.defaultPasswordCost
    public var password = PasswordPolicy()
    public var session = SessionPolicy()
    public var throttle = ThrottlePolicy()
    public var invitationLifetime: Duration = LinkPurpose.invitation.defaultLifetime
    public var resetLifetime: Duration = LinkPurpose.reset.defaultLifetime

    public init() {}

    /// The defaults, with `ESCALATED_BCRYPT_COST` from `environment` when it is set.
    public init(environment: [String: String]) throws(SettingsError) {
        if let text = environment["ESCALATED_BCRYPT_COST"], !text.isEmpty {
            passwordCost = try Self.parsePasswordCost(text)
        }
    }

    /// Reads a bcrypt cost, 4 to 31 (each step doubles the time).
    public static func parsePasswordCost(_ text: String) throws(SettingsError) -> UInt8 {
        guard let cost = UInt8(text), (4...31).contains(cost) else {
            throw SettingsError("ESCALATED_BCRYPT_COST must be a whole number from 4 to 31 (got '\(text)')")
        }
        return cost
    }

    /// How long a link of `purpose` lives.
    public func lifetime(of purpose: LinkPurpose) -> Duration {
        switch purpose {
        case .invitation: invitationLifetime
        case .reset: resetLifetime
        }
    }
}

/// Bcrypt on NIO's thread pool, so that a hash (a tenth of a second or more) never holds up the
/// tasks that serve other requests.
struct PasswordHasher: Sendable {
    var cost: UInt8

    /// The hash of a password that has passed ``PasswordPolicy/check(_:field:)``.
    func hash(_ password: String) async throws -> String {
        let cost = cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Whether `password` matches `hash`. Without a hash (no such account, no password yet) it
    /// compares against a dummy hash of the same cost and returns false, so that the answer takes
    /// as long as for an account that exists.
    func verify(_ password: String, hash: String?) async throws -> Bool {
        let stored: String
        if let hash { stored = hash } else { stored = try await dummyHash() }
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: stored) }
        return matches && hash != nil
    }

    /// One hash of random text per cost, made the first time it is needed and kept.
    private func dummyHash() async throws -> String {
        if let known = Self.dummies.withLock({ $0[cost] }) { return known }
        let made = try await hash(SecretText.make())
        return Self.dummies.withLock { dummies in
            if let known = dummies[cost] { return known }
            dummies[cost] = made
            return made
        }
    }

    private static let dummies = Mutex<[UInt8: String]>([:])
}

/// The secrets of one-time links and sessions: 256 random bits as 43 base64url characters. Only
/// their SHA-256 is stored (``TokenStore/hash(_:)``, as for tokens).
enum SecretText {
    static let length = 43

    /// A new secret.
    static func make() -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        return String(TokenText.encode(bytes).dropFirst(TokenText.prefix.count))
    }

    /// True when `text` has the shape of a secret (it may still be unknown, used or expired).
    static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == length && TokenText.isWellFormed(TokenText.prefix + text)
    }
}

/// The CSRF token of a session, derived from its secret so that nothing more is stored: HMAC-SHA256
/// keyed by the session secret over a fixed label, in base64url.
///
/// A form carries it in a hidden field; a request that changes something is accepted only when the
/// field matches its session's token. It changes with the session (a new one at every sign-in).
public enum CSRFToken {
    static let label = Data("escalated csrf v1".utf8)

    /// The token for the session whose secret (cookie value) is `sessionSecret`.
    public static func make(sessionSecret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: label, using: SymmetricKey(data: Data(sessionSecret.utf8)))
        return String(TokenText.encode(Array(mac)).dropFirst(TokenText.prefix.count))
    }

    /// Whether `token` is the token of the session whose secret is `sessionSecret`.
    public static func verify(_ token: String, sessionSecret: String) -> Bool {
        verify(token, matching: make(sessionSecret: sessionSecret))
    }

    /// Whether `token` equals `expected`, compared in constant time (the time does not depend on
    /// where they differ, so it does not help guess the token byte by byte).
    public static func verify(_ token: String, matching expected: String) -> Bool {
        let given = Array(token.utf8), wanted = Array(expected.utf8)
        guard given.count == wanted.count else { return false }
        var difference: UInt8 = 0
        for index in given.indices { difference |= given[index] ^ wanted[index] }
        return difference == 0
    }
}
