/// How a message reaches its recipient.
public enum DeliveryChannel: String, Sendable, Hashable, CaseIterable, Codable {
    case email
    case webhook
}

/// What one attempt to deliver a message came to.
public enum DeliveryOutcome: Sendable, Equatable {
    /// Accepted by the server; its answer.
    case sent(String)
    /// Failed in a way a later attempt may not (a timeout, a refused connection, SMTP 4xx,
    /// HTTP 408, 429 or 5xx).
    case transient(String)
    /// Failed in a way no retry will fix (SMTP 5xx, HTTP 4xx other than 408 and 429, no address).
    case permanent(String)

    /// An SMTP reply to the end of the message (or to any command before it).
    public static func smtp(code: Int, text: String) -> DeliveryOutcome {
        let answer = "\(code) \(text)"
        switch code {
        case 200..<400: return .sent(answer)
        case 400..<500: return .transient(answer)
        default: return .permanent(answer)
        }
    }

    /// An HTTP response status.
    public static func http(status: Int, text: String) -> DeliveryOutcome {
        let answer = "\(status) \(text)"
        switch status {
        case 200..<300: return .sent(answer)
        case 408, 429, 500..<600: return .transient(answer)
        default: return .permanent(answer)
        }
    }
}

/// What to do with a delivery after an attempt.
public enum DeliveryDecision: Sendable, Equatable {
    case sent
    /// Try again after this many seconds.
    case retry(afterSeconds: Double)
    /// Give up: park the row where an operator sees it (it can be re-driven).
    case dead
}

/// Exponential backoff with jitter, up to a cap, and a limit on attempts.
public struct RetryPolicy: Sendable, Equatable {
    public var initialSeconds: Double
    public var maximumSeconds: Double
    /// Attempts in all, the first included; the last failure dead-letters.
    public var maximumAttempts: Int

    public init(initialSeconds: Double = 30, maximumSeconds: Double = 3600, maximumAttempts: Int = 10) {
        self.initialSeconds = initialSeconds
        self.maximumSeconds = maximumSeconds
        self.maximumAttempts = maximumAttempts
    }

    /// The delay after failed attempt `attempt` (1 for the first): `initial · 2^(attempt-1)`, capped,
    /// then scaled by `0.5 + jitter/2` (jitter in 0...1), so retries of many rows spread out.
    public func delay(afterAttempt attempt: Int, jitter: Double) -> Double {
        let base = min(maximumSeconds, initialSeconds * Double(1 << min(max(attempt - 1, 0), 30)))
        return base * (0.5 + min(max(jitter, 0), 1) / 2)
    }

    /// The decision after attempt `attempt` ended with `outcome`.
    public func decide(_ outcome: DeliveryOutcome, attempt: Int, jitter: Double) -> DeliveryDecision {
        switch outcome {
        case .sent: return .sent
        case .permanent: return .dead
        case .transient: return attempt >= maximumAttempts ? .dead : .retry(afterSeconds: delay(afterAttempt: attempt, jitter: jitter))
        }
    }
}
