public import EscalationCore
import Foundation
public import Logging
import PostgresNIO

/// One-time links: invitations and password resets, and setting a password through one.
///
/// A link's secret is 256 random bits, shown once (in the email the caller queues); only its
/// SHA-256 is stored. It is used at most once, even by two requests at the same instant (the
/// consuming UPDATE locks the row, and the second finds it used), and not after it expires.
extension AccountStore {
    public enum LinkError: Error, Sendable, Equatable {
        /// The link is unknown, used, expired, or its account is disabled (one answer for all).
        case invalid
    }

    /// Makes a new link of `purpose` for an enabled account and voids its earlier open links of
    /// that purpose. Returns the secret (for ``LinkPurpose/path(secret:)``), or nil when there is
    /// no such enabled account. The caller queues the email; nothing is sent here.
    /// With `voidingOthers` false the earlier links stay usable (``linkForEmail(accountID:purpose:logger:)``).
    public func issueLink(accountID: Int64, purpose: LinkPurpose, voidingOthers: Bool = true, logger: Logger) async throws -> String? {
        let lifetime = settings.lifetime(of: purpose)
        return try await client.inTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                "SELECT id FROM escalated.accounts WHERE id = \(accountID) AND disabled_at IS NULL FOR UPDATE", logger: logger
            ).decode(Int64.self)
            guard try await rows.first(where: { _ in true }) != nil else { return nil }
            return try await Self.insertLink(accountID: accountID, purpose: purpose, lifetime: lifetime, voidingOthers: voidingOthers,
                                             on: connection, logger: logger)
        }
    }

    /// A password-reset link for the enabled account with this email, or nil when there is none.
    ///
    /// The page that asks for it should answer the same either way ("if the address is known, a
    /// link is on its way"), so that it does not tell who has an account.
    public func requestReset(email: String, logger: Logger) async throws -> (account: Account, secret: String)? {
        guard let account = try await account(email: email, logger: logger), !account.isDisabled,
              let secret = try await issueLink(accountID: account.id, purpose: .reset, logger: logger) else { return nil }
        logger.info("password reset link made", metadata: ["account.id": "\(account.id)"])
        return (account, secret)
    }

    /// The account a usable link of `purpose` belongs to, without using it (the page that asks for
    /// the new password); nil when the link is unknown, used, expired or its account disabled.
    public func linkAccount(secret: String, purpose: LinkPurpose, logger: Logger) async throws -> Account? {
        guard SecretText.isWellFormed(secret) else { return nil }
        let rows = try await client.query("""
            SELECT \(unescaped: Self.columns(of: "a"))
              FROM escalated.account_links l JOIN escalated.accounts a ON a.id = l.account_id
             WHERE l.secret_hash = decode(\(TokenStore.hash(secret)), 'hex') AND l.purpose = \(purpose.rawValue)
               AND l.used_at IS NULL AND l.expires_at > now() AND a.disabled_at IS NULL
            """, logger: logger)
        return try await Self.accounts(rows).first
    }

    /// Sets the password of the link's account and uses the link, in one transaction; the account's
    /// other open links are void and its sessions end (a reset signs out every browser).
    ///
    /// Throws the policy's ``FieldError`` (field `password`) for a password it refuses, and
    /// ``LinkError/invalid`` when the link cannot be used. The password is never logged.
    public func setPassword(secret: String, purpose: LinkPurpose, password: String, logger: Logger) async throws -> Account {
        let checked = try settings.password.check(password)
        // Spend no bcrypt time on a link that cannot work; the UPDATE below decides for good.
        guard try await linkAccount(secret: secret, purpose: purpose, logger: logger) != nil else { throw LinkError.invalid }
        let hash = try await PasswordHasher(cost: settings.passwordCost).hash(checked)
        let account: Account = try await client.inTransaction(logger: logger) { connection in
            let used = try await connection.query("""
                UPDATE escalated.account_links SET used_at = now()
                 WHERE secret_hash = decode(\(TokenStore.hash(secret)), 'hex') AND purpose = \(purpose.rawValue)
                   AND used_at IS NULL AND expires_at > now()
                RETURNING account_id
                """, logger: logger).decode(Int64.self)
            guard let accountID = try await used.first(where: { _ in true }) else { throw LinkError.invalid }
            let rows = try await connection.query("""
                UPDATE escalated.accounts SET password_hash = \(hash), password_set_at = now()
                 WHERE id = \(accountID) AND disabled_at IS NULL
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            guard let account = try await Self.accounts(rows).first else { throw LinkError.invalid }
            try await connection.query("UPDATE escalated.account_links SET used_at = now() WHERE account_id = \(accountID) AND used_at IS NULL", logger: logger)
            try await connection.query("DELETE FROM escalated.sessions WHERE account_id = \(accountID)", logger: logger)
            return account
        }
        logger.info("password set", metadata: ["account.id": "\(account.id)", "link.purpose": "\(purpose.rawValue)"])
        return account
    }

    /// Queues the email of a link (an invitation or a reset) to an account, through the outbox:
    /// one row, the deliverers woken. The link itself is made when the email is composed
    /// (``linkForEmail(accountID:purpose:)``), so that no secret is ever stored. A reset asked for
    /// again within five minutes is not queued twice (the page must not flood an inbox).
    /// Returns whether a row was queued.
    @discardableResult
    public func queueEmail(accountID: Int64, purpose: LinkPurpose, logger: Logger) async throws -> Bool {
        let rows = try await client.query("""
            WITH q AS (
                INSERT INTO escalated.outbox (kind, recipient_kind, recipient_code, channel)
                SELECT \(purpose.rawValue), 'account', a.id::text, 'email' FROM escalated.accounts a
                 WHERE a.id = \(accountID) AND a.disabled_at IS NULL
                   AND NOT (\(purpose.rawValue) = 'reset' AND EXISTS (
                        SELECT 1 FROM escalated.outbox o WHERE o.recipient_kind = 'account' AND o.recipient_code = a.id::text
                           AND o.kind = 'reset' AND o.created_at > now() - interval '5 minutes'))
                RETURNING channel
            )
            SELECT count(*)::int8, (SELECT count(*) FROM (\(unescaped: OutboxSQL.wakeDeliverers(after: "q"))) w)::int8 FROM q
            """, logger: logger).decode((Int64, Int64).self)
        let queued = (try await rows.first { _ in true }?.0 ?? 0) > 0
        if queued { logger.info("account email queued", metadata: ["account.id": "\(accountID)", "link.purpose": "\(purpose.rawValue)"]) }
        return queued
    }

    /// A new link of `purpose` for an email being composed now, leaving the account's other open
    /// links usable (an email sent twice after a crash carries two links; setting the password
    /// voids them all). Nil when the account is disabled or gone.
    public func linkForEmail(accountID: Int64, purpose: LinkPurpose, logger: Logger) async throws -> String? {
        try await issueLink(accountID: accountID, purpose: purpose, voidingOthers: false, logger: logger)
    }

    /// Inserts a link on `connection` (inside the caller's transaction), by default after voiding
    /// the account's open links of the same purpose; returns its secret.
    static func insertLink(accountID: Int64, purpose: LinkPurpose, lifetime: Duration, voidingOthers: Bool = true,
                           on connection: PostgresConnection, logger: Logger) async throws -> String {
        let secret = SecretText.make()
        if voidingOthers {
            try await connection.query("""
                UPDATE escalated.account_links SET used_at = now()
                 WHERE account_id = \(accountID) AND purpose = \(purpose.rawValue) AND used_at IS NULL
                """, logger: logger)
        }
        try await connection.query("""
            INSERT INTO escalated.account_links (account_id, purpose, secret_hash, expires_at)
            VALUES (\(accountID), \(purpose.rawValue), decode(\(TokenStore.hash(secret)), 'hex'), now() + make_interval(secs => \(lifetime.timeInterval)))
            """, logger: logger)
        return secret
    }
}
