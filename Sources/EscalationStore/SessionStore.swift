public import EscalationCore
public import Foundation
public import Logging
import PostgresNIO

/// Signed-in sessions of web accounts, in PostgreSQL so that every replica sees them.
///
/// A session's id (the cookie value) is 256 random bits, new at every sign-in; only its SHA-256
/// is stored. It ends after ``SessionPolicy/idle`` without use or ``SessionPolicy/absolute`` after
/// sign-in, at sign-out, and when its account is disabled or its password set again. Its last use
/// is written at most once per ``SessionPolicy/touchInterval``, so reading pages does not write.
public struct SessionStore: Sendable {
    public let client: Database
    public var policy: SessionPolicy

    public init(client: Database, policy: SessionPolicy = SessionPolicy()) {
        self.client = client
        self.policy = policy
    }

    /// A live session and the person it belongs to.
    public struct Session: Sendable, Equatable {
        public var id: Int64
        public var account: AccountStore.Account
        public var createdAt: Date
        public var lastSeenAt: Date
        /// The token this session's forms carry (``CSRFToken``); check it with ``verifyCSRF(_:)``.
        public var csrfToken: String

        /// Whether a submitted form's CSRF token is this session's, compared in constant time.
        public func verifyCSRF(_ token: String) -> Bool { CSRFToken.verify(token, matching: csrfToken) }
    }

    /// Starts a session for an enabled account and returns it with its secret (the cookie value,
    /// shown once); nil when the account does not exist or is disabled.
    ///
    /// Sign-in calls this after checking the password; the web layer drops any session cookie the
    /// browser had, so a session id planted before sign-in is never promoted.
    public func start(accountID: Int64, address: String?, logger: Logger) async throws -> (session: Session, secret: String)? {
        let secret = SecretText.make()
        let rows = try await client.query("""
            WITH s AS (
                INSERT INTO escalated.sessions (account_id, secret_hash, address)
                SELECT id, decode(\(TokenStore.hash(secret)), 'hex'), \(address.map { String($0.prefix(100)) })
                  FROM escalated.accounts WHERE id = \(accountID) AND disabled_at IS NULL
                RETURNING id, account_id, created_at, last_seen_at
            )
            SELECT s.id, s.created_at, s.last_seen_at, now(), \(unescaped: AccountStore.columns(of: "a"))
              FROM s JOIN escalated.accounts a ON a.id = s.account_id
            """, logger: logger)
        guard let (session, _) = try await Self.sessions(rows, secret: secret).first else { return nil }
        logger.debug("session started", metadata: ["account.id": "\(accountID)", "session.id": "\(session.id)"])
        return (session, secret)
    }

    /// The live session whose cookie value is `secret`, or nil (unknown, expired, signed out, or
    /// its account disabled). An expired session found here is deleted.
    public func authenticate(_ secret: String, logger: Logger) async throws -> Session? {
        guard SecretText.isWellFormed(secret) else { return nil }
        let rows = try await client.query("""
            SELECT s.id, s.created_at, s.last_seen_at, now(), \(unescaped: AccountStore.columns(of: "a"))
              FROM escalated.sessions s JOIN escalated.accounts a ON a.id = s.account_id
             WHERE s.secret_hash = decode(\(TokenStore.hash(secret)), 'hex') AND a.disabled_at IS NULL
            """, logger: logger)
        guard let (found, now) = try await Self.sessions(rows, secret: secret).first else { return nil }
        var session = found
        switch policy.decide(createdAt: session.createdAt, lastSeenAt: session.lastSeenAt, now: now) {
        case .expired(let why):
            try await client.query("DELETE FROM escalated.sessions WHERE id = \(session.id)", logger: logger)
            logger.debug("session expired", metadata: ["session.id": "\(session.id)", "session.expiry": "\(why.rawValue)"])
            return nil
        case .valid(touch: true):
            try await client.query("UPDATE escalated.sessions SET last_seen_at = now() WHERE id = \(session.id)", logger: logger)
            session.lastSeenAt = now
            return session
        case .valid(touch: false):
            return session
        }
    }

    /// Ends the session whose cookie value is `secret`; false when there was none.
    public func signOut(_ secret: String, logger: Logger) async throws -> Bool {
        guard SecretText.isWellFormed(secret) else { return false }
        let rows = try await client.query(
            "DELETE FROM escalated.sessions WHERE secret_hash = decode(\(TokenStore.hash(secret)), 'hex') RETURNING id", logger: logger
        ).decode(Int64.self)
        return try await rows.first { _ in true } != nil
    }

    /// Ends every session of an account (signing out everywhere); returns how many ended.
    @discardableResult
    public func endSessions(accountID: Int64, logger: Logger) async throws -> Int {
        try await count(client.query("DELETE FROM escalated.sessions WHERE account_id = \(accountID) RETURNING id", logger: logger))
    }

    /// Deletes the sessions that have expired (for a maintenance loop); returns how many.
    @discardableResult
    public func pruneExpired(logger: Logger) async throws -> Int {
        try await count(client.query("""
            DELETE FROM escalated.sessions
             WHERE created_at <= now() - make_interval(secs => \(policy.absolute.timeInterval))
                OR last_seen_at <= now() - make_interval(secs => \(policy.idle.timeInterval))
            RETURNING id
            """, logger: logger))
    }

    private func count(_ rows: PostgresRowSequence) async throws -> Int {
        var count = 0
        for try await _ in rows.decode(Int64.self) { count += 1 }
        return count
    }

    /// Decodes `id, created_at, last_seen_at, now(), <account columns>` rows.
    static func sessions(_ rows: PostgresRowSequence, secret: String) async throws -> [(Session, now: Date)] {
        var sessions: [(Session, now: Date)] = []
        for try await (id, created, seen, now, accountID, name, email, locale, kind, code, accountCreated, passwordSet, disabled)
            in rows.decode((Int64, Date, Date, Date, Int64, String, String, PersonLocale, ActorKind, String?, Date, Date?, Date?).self) {
            let account = AccountStore.account((accountID, name, email, locale, kind, code, accountCreated, passwordSet, disabled))
            sessions.append((Session(id: id, account: account, createdAt: created, lastSeenAt: seen,
                                     csrfToken: CSRFToken.make(sessionSecret: secret)), now))
        }
        return sessions
    }
}
