public import Foundation

/// The rules of web accounts that need no I/O: what an email address and a password must be,
/// how long one-time links and sessions live, and when sign-ins are throttled.
///
/// The store applies them; they are here so that they are tested without a database.
public enum AccountText {
    /// An email address: trimmed, at most 254 characters, one `@` with a dot after it, no spaces,
    /// control characters or angle brackets (the rule the directory applies to people's emails).
    ///
    /// Kept as typed; the store compares addresses without regard to case.
    public static func email(_ value: String, field: String = "email") throws(FieldError) -> String {
        let text = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard EmailAddress.isValid(text) else { throw FieldError(field: field, message: "'\(text)' is not an email address") }
        return text
    }

    /// `vi` or `en`; nil (not given) is `vi`.
    public static func locale(_ value: String?, field: String = "locale") throws(FieldError) -> PersonLocale {
        guard let value else { return .vi }
        guard let locale = PersonLocale(rawValue: value) else { throw FieldError(field: field, message: "must be 'vi' or 'en' (got '\(value)')") }
        return locale
    }
}

/// The shape of an email address, as the directory (people, agencies) and accounts accept it.
public enum EmailAddress {
    /// True for at most 254 characters, one `@` with a dot after it, no spaces, control characters
    /// or angle brackets.
    public static func isValid(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control || $0 == "<" || $0 == ">" })
            && email.count <= 254
    }
}

/// What a password must be before it is hashed.
///
/// A password is compared in NFC, so the same Vietnamese text typed on two keyboards (composed or
/// decomposed diacritics) is the same password. Bcrypt reads only the first 72 bytes of its input:
/// a longer password is refused rather than silently cut.
public struct PasswordPolicy: Sendable, Equatable {
    /// The fewest characters accepted.
    public static let defaultMinimumLength = 10
    /// The most UTF-8 bytes bcrypt reads.
    public static let bcryptMaximumBytes = 72

    public var minimumLength: Int
    public var maximumBytes: Int

    public init(minimumLength: Int = Self.defaultMinimumLength, maximumBytes: Int = Self.bcryptMaximumBytes) {
        self.minimumLength = minimumLength
        self.maximumBytes = min(maximumBytes, Self.bcryptMaximumBytes)
    }

    /// The password in NFC when it meets the policy; a ``FieldError`` on `field` otherwise.
    public func check(_ password: String, field: String = "password") throws(FieldError) -> String {
        let text = password.precomposedStringWithCanonicalMapping
        guard text.count >= minimumLength else {
            throw FieldError(field: field, message: "must be at least \(minimumLength) characters")
        }
        guard text.utf8.count <= maximumBytes else {
            throw FieldError(field: field, message: "must be at most \(maximumBytes) bytes (about \(maximumBytes / 3) Vietnamese or \(maximumBytes) English letters)")
        }
        // Bcrypt's C code stops at a NUL byte; control characters are never typed on purpose.
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw FieldError(field: field, message: "must not contain control characters")
        }
        return text
    }
}

/// What a one-time link is for, and how long it lives.
public enum LinkPurpose: String, Sendable, Hashable, CaseIterable, Codable {
    /// Sent when an account is made: the person sets their first password.
    case invitation
    /// Asked for from the sign-in page: the person sets a new password.
    case reset

    /// The default lifetime: an invitation 7 days, a reset 1 hour.
    public var defaultLifetime: Duration {
        switch self {
        case .invitation: .seconds(Self.invitationLifetimeSeconds)
        case .reset: .seconds(Self.resetLifetimeSeconds)
        }
    }

    public static let invitationLifetimeSeconds: Int64 = 7 * 86_400
    public static let resetLifetimeSeconds: Int64 = 3600

    /// The path of the web page that opens the link.
    public func path(secret: String) -> String {
        switch self {
        case .invitation: "/invite/\(secret)"
        case .reset: "/reset/\(secret)"
        }
    }
}

/// How long a signed-in session lives.
///
/// A session ends after `idle` without a request or `absolute` after sign-in, whichever comes first.
/// Its last use is written at most once per `touchInterval`, so reading a page does not write.
public struct SessionPolicy: Sendable, Equatable {
    public static let defaultIdle: Duration = .seconds(8 * 3600)
    public static let defaultAbsolute: Duration = .seconds(7 * 86_400)
    public static let defaultTouchInterval: Duration = .seconds(60)

    public var idle: Duration
    public var absolute: Duration
    public var touchInterval: Duration

    public init(idle: Duration = Self.defaultIdle, absolute: Duration = Self.defaultAbsolute, touchInterval: Duration = Self.defaultTouchInterval) {
        self.idle = idle
        self.absolute = absolute
        self.touchInterval = touchInterval
    }

    /// What a session started at `createdAt` and last seen at `lastSeenAt` is at `now`.
    public func decide(createdAt: Date, lastSeenAt: Date, now: Date) -> SessionDecision {
        if now >= createdAt.adding(absolute) { return .expired(.absolute) }
        if now >= lastSeenAt.adding(idle) { return .expired(.idle) }
        return .valid(touch: now >= lastSeenAt.adding(touchInterval))
    }
}

public enum SessionDecision: Sendable, Equatable {
    /// In use; `touch` when its last use should be written now.
    case valid(touch: Bool)
    case expired(SessionExpiry)
}

public enum SessionExpiry: String, Sendable, Equatable {
    case idle, absolute
}

/// How many failed sign-ins are allowed before the next attempt must wait.
///
/// Failures are counted over a sliding window, per email address (known or not, so a lockout does
/// not tell whether an account exists) and per client address.
public struct ThrottlePolicy: Sendable, Equatable {
    public static let defaultWindow: Duration = .seconds(15 * 60)
    public static let defaultPerAccount = 5
    public static let defaultPerAddress = 20

    public var window: Duration
    public var perAccount: Int
    public var perAddress: Int

    public init(window: Duration = Self.defaultWindow, perAccount: Int = Self.defaultPerAccount, perAddress: Int = Self.defaultPerAddress) {
        self.window = window
        self.perAccount = perAccount
        self.perAddress = perAddress
    }

    /// Whether a sign-in may be tried at `now`, given the times of the recent failures for the
    /// account and for the client address (any order; only those within the window count).
    public func decide(accountFailures: [Date], addressFailures: [Date], now: Date) -> ThrottleDecision {
        let waits = [Self.retryAt(accountFailures, limit: perAccount, window: window, now: now),
                     Self.retryAt(addressFailures, limit: perAddress, window: window, now: now)].compactMap(\.self)
        guard let retryAt = waits.max() else { return .allow }
        return .refuse(retryAt: retryAt)
    }

    /// When the failures within the window fall below `limit` again, or nil when they are below it now.
    static func retryAt(_ failures: [Date], limit: Int, window: Duration, now: Date) -> Date? {
        let start = now.adding(.zero - window)
        let recent = failures.filter { $0 > start && $0 <= now }.sorted(by: >)
        let limit = max(limit, 1)
        guard recent.count >= limit else { return nil }
        // Once the limit-th most recent failure leaves the window, limit - 1 remain.
        return recent[limit - 1].adding(window)
    }
}

public enum ThrottleDecision: Sendable, Equatable {
    case allow
    /// Too many failures: the next attempt may be made at `retryAt`.
    case refuse(retryAt: Date)
}

extension Duration {
    /// The duration in seconds, as Foundation's dates count them.
    public var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension Date {
    func adding(_ duration: Duration) -> Date { addingTimeInterval(duration.timeInterval) }
}
