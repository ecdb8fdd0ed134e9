public import EscalationCore
public import Foundation
public import Logging
import PostgresNIO

/// Web accounts: people who sign in, each bound to one scope (as a token is).
///
/// An account is made with an invitation link (``create(name:email:locale:scope:logger:)``), the
/// person sets a password through it (``setPassword(secret:purpose:password:logger:)`` in
/// AccountStore+Links.swift), then signs in (``signIn(email:password:address:logger:)`` in
/// AccountStore+SignIn.swift). Accounts are disabled, never deleted.
public struct AccountStore: Sendable {
    public let client: Database
    public var settings: AccountSettings

    public init(client: Database, settings: AccountSettings = AccountSettings()) {
        self.client = client
        self.settings = settings
    }

    /// An account as listed and as a session carries it: everything but the password hash.
    public struct Account: Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var email: String
        public var locale: PersonLocale
        /// Whom the person acts as: `unit:CODE`, `agency:CODE`, `member:PERSON`, `supervisor:PERSON` or `admin`.
        public var scope: Actor
        public var createdAt: Date
        /// When a password was last set; nil while the invitation is not used.
        public var passwordSetAt: Date?
        public var disabledAt: Date?

        public var isDisabled: Bool { disabledAt != nil }
    }

    public enum AccountError: Error, Sendable, Equatable {
        /// The scope's code names nothing of its kind in the directory.
        case unknownScope(String)
        /// Another account has this email (compared without regard to case).
        case duplicateEmail(String)
    }

    /// Makes an account bound to `scope` and an invitation link for it, in one transaction.
    ///
    /// Returns the account and the link's secret (shown once, only its hash is kept): the caller
    /// queues the invitation email with ``LinkPurpose/path(secret:)``. `name` and `email` must
    /// already be checked (``TokenText/name(_:)``, ``AccountText/email(_:field:)``).
    /// With `invite` (the default) the invitation email is queued in the same transaction
    /// (through the outbox; it carries a link of its own, made when it is sent).
    public func create(name: String, email: String, locale: PersonLocale, scope: Actor, invite: Bool = true,
                       logger: Logger) async throws -> (account: Account, invitation: String) {
        guard try await ActorDirectory.knows(scope, client: client, logger: logger) else { throw AccountError.unknownScope(scope.description) }
        let lifetime = settings.invitationLifetime
        do {
            return try await client.inTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    INSERT INTO escalated.accounts (name, email, locale, scope_kind, scope_code)
                    VALUES (\(name), \(email), \(locale.rawValue), \(scope.kind.rawValue), \(scope.code))
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                guard let account = try await Self.accounts(rows).first else { throw DirectoryJSON.Corrupt(description: "INSERT INTO accounts returned no row") }
                let secret = try await Self.insertLink(accountID: account.id, purpose: .invitation, lifetime: lifetime, on: connection, logger: logger)
                if invite {
                    // The row is read to its end: the connection serves the transaction's next statement only then.
                    let queued = try await connection.query("""
                        WITH q AS (
                            INSERT INTO escalated.outbox (kind, recipient_kind, recipient_code, channel)
                            VALUES ('invitation', 'account', \(String(account.id)), 'email') RETURNING channel
                        )
                        SELECT count(*) FROM (\(unescaped: OutboxSQL.wakeDeliverers(after: "q"))) w
                        """, logger: logger)
                    for try await _ in queued {}
                }
                logger.info("account created", metadata: ["account.id": "\(account.id)", "account.scope": "\(scope)"])
                return (account, secret)
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && error.serverInfo?[.constraintName] == "accounts_email" {
            throw AccountError.duplicateEmail(email)
        }
    }

    /// Every account, newest first, disabled ones included.
    public func list(logger: Logger) async throws -> [Account] {
        try await Self.accounts(client.query("SELECT \(unescaped: Self.columns) FROM escalated.accounts ORDER BY id DESC", logger: logger))
    }

    /// One account, or nil.
    public func account(id: Int64, logger: Logger) async throws -> Account? {
        try await Self.accounts(client.query("SELECT \(unescaped: Self.columns) FROM escalated.accounts WHERE id = \(id)", logger: logger)).first
    }

    /// The account with this email (without regard to case), or nil.
    public func account(email: String, logger: Logger) async throws -> Account? {
        try await Self.accounts(client.query("SELECT \(unescaped: Self.columns) FROM escalated.accounts WHERE lower(email) = lower(\(email))", logger: logger)).first
    }

    /// Disables an account: it cannot sign in, its sessions end and its open links are void, at once
    /// and on every replica. False when there is no such account or it was disabled before.
    public func disable(id: Int64, logger: Logger) async throws -> Bool {
        let disabled = try await client.inTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                "UPDATE escalated.accounts SET disabled_at = now() WHERE id = \(id) AND disabled_at IS NULL RETURNING id", logger: logger
            ).decode(Int64.self)
            guard try await rows.first(where: { _ in true }) != nil else { return false }
            try await connection.query("DELETE FROM escalated.sessions WHERE account_id = \(id)", logger: logger)
            try await connection.query("UPDATE escalated.account_links SET used_at = now() WHERE account_id = \(id) AND used_at IS NULL", logger: logger)
            return true
        }
        if disabled { logger.info("account disabled", metadata: ["account.id": "\(id)"]) }
        return disabled
    }

    // MARK: Rows

    /// The columns ``accounts(_:)`` decodes, in order.
    static let columnNames = ["id", "name", "email", "locale", "scope_kind", "scope_code", "created_at", "password_set_at", "disabled_at"]
    static let columns = columnNames.joined(separator: ", ")

    /// ``columns`` of the table aliased `alias` in a join.
    static func columns(of alias: String) -> String { columnNames.map { "\(alias).\($0)" }.joined(separator: ", ") }

    /// Decodes rows of ``columns``.
    static func accounts(_ rows: PostgresRowSequence) async throws -> [Account] {
        var accounts: [Account] = []
        for try await row in rows.decode((Int64, String, String, PersonLocale, ActorKind, String?, Date, Date?, Date?).self) {
            accounts.append(account(row))
        }
        return accounts
    }

    /// An account from its row (a kind or locale the type does not know fails the row's decoding).
    static func account(_ row: (Int64, String, String, PersonLocale, ActorKind, String?, Date, Date?, Date?)) -> Account {
        let (id, name, email, locale, kind, code, created, passwordSet, disabled) = row
        return Account(id: id, name: name, email: email, locale: locale, scope: Actor(kind: kind, code: code),
                       createdAt: created, passwordSetAt: passwordSet, disabledAt: disabled)
    }
}
