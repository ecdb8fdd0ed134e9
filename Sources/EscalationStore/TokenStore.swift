import Crypto
public import EscalationCore
public import Logging
import PostgresNIO
public import Foundation

/// API tokens: made (shown once), listed, revoked, and checked on every request.
///
/// A token is 256 random bits; only its SHA-256 is stored, so a copy of the database does not
/// hold a usable token. Checking one is a single indexed read, which also notes the last use at
/// most once a minute (so a busy token does not write on every request).
public struct TokenStore: Sendable {
    public let client: Database

    public init(client: Database) {
        self.client = client
    }

    /// A token as listed: everything but the secret, which is not kept.
    public struct Token: Sendable, Equatable, Codable {
        public var id: Int64
        public var actor: String
        public var name: String
        public var createdAt: Date
        public var expiresAt: Date?
        public var lastUsedAt: Date?
        public var revokedAt: Date?

        enum CodingKeys: String, CodingKey {
            case id, actor, name
            case createdAt = "created_at"
            case expiresAt = "expires_at"
            case lastUsedAt = "last_used_at"
            case revokedAt = "revoked_at"
        }
    }

    /// Who a valid token speaks for.
    public struct Identity: Sendable, Equatable {
        public var tokenID: Int64
        public var actor: Actor
        public var expiresAt: Date?
    }

    public enum TokenError: Error, Sendable, Equatable {
        /// The actor's code names nothing of its kind in the directory.
        case unknownActor(String)
    }

    /// Makes a token for `actor`; returns it listed and the token itself (never stored).
    public func create(actor: Actor, name: String, expiresAt: Date?, logger: Logger) async throws -> (token: Token, secret: String) {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        let secret = TokenText.encode(bytes)
        guard try await ActorDirectory.knows(actor, client: client, logger: logger) else { throw TokenError.unknownActor(actor.description) }
        let row = try await client.query("""
            INSERT INTO escalated.tokens (actor_kind, actor_code, name, secret_hash, expires_at)
            VALUES (\(actor.kind.rawValue), \(actor.code), \(name), decode(\(Self.hash(secret)), 'hex'), \(expiresAt))
            RETURNING id, created_at
            """, logger: logger).decode((Int64, Date).self).first { _ in true }
        guard let (id, created) = row else { throw DirectoryJSON.Corrupt(description: "INSERT INTO tokens returned no row") }
        return (Token(id: id, actor: actor.description, name: name, createdAt: created, expiresAt: expiresAt), secret)
    }

    /// Every token, newest first, revoked ones included.
    public func list(logger: Logger) async throws -> [Token] {
        var tokens: [Token] = []
        for try await (id, kind, code, name, created, expires, used, revoked) in try await client.query("""
            SELECT id, actor_kind, actor_code, name, created_at, expires_at, last_used_at, revoked_at
              FROM escalated.tokens ORDER BY id DESC
            """, logger: logger).decode((Int64, ActorKind, String?, String, Date, Date?, Date?, Date?).self) {
            let actor = Actor(kind: kind, code: code)
            tokens.append(Token(id: id, actor: actor.description, name: name, createdAt: created, expiresAt: expires,
                                lastUsedAt: used, revokedAt: revoked))
        }
        return tokens
    }

    /// Revokes a token; false when there is no such token or it was revoked before.
    public func revoke(id: Int64, logger: Logger) async throws -> Bool {
        let rows = try await client.query(
            "UPDATE escalated.tokens SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL RETURNING id", logger: logger
        ).decode(Int64.self)
        return try await rows.first { _ in true } != nil
    }

    /// Who `secret` speaks for, or nil when it is unknown, revoked or expired.
    public func authenticate(_ secret: String, logger: Logger) async throws -> Identity? {
        guard TokenText.isWellFormed(secret) else { return nil }
        let rows = try await client.query("""
            WITH t AS (
                SELECT id, actor_kind, actor_code, expires_at, last_used_at FROM escalated.tokens
                 WHERE secret_hash = decode(\(Self.hash(secret)), 'hex') AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
            ), touched AS (
                UPDATE escalated.tokens k SET last_used_at = now() FROM t
                 WHERE k.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
            )
            SELECT id, actor_kind, actor_code, expires_at FROM t
            """, logger: logger).decode((Int64, ActorKind, String?, Date?).self)
        guard let (id, kind, code, expires) = try await rows.first(where: { _ in true }) else { return nil }
        return Identity(tokenID: id, actor: Actor(kind: kind, code: code), expiresAt: expires)
    }

    /// Hex SHA-256 of the token (bound as text, decoded to bytea by the statement).
    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// An actor's scope as SQL: the condition an issue row (alias `i`) must meet to be seen by it.
/// Every read and every action of the API puts it in its query, so an issue outside the scope
/// is never read, listed or changed.
enum ScopeSQL {
    /// The condition, its value appended to `binds` when it needs one. `responsible` narrows an
    /// agency to what it must act on now (its inbox), leaving out issues it handed over.
    ///
    /// `sets`: for a statement that reads many issues (the dashboards), an agency's assignments
    /// are read once, as a set of issue ids (a hashed subplan), instead of looked up for each
    /// issue; the same issues either way.
    static func condition(_ actor: Actor, binds: inout PostgresBindings, responsible: Bool = false, sets: Bool = false) -> String {
        // The issues with an assignment matching `match` (on `s`), in the form `sets` asks for.
        func assigned(_ match: String) -> String {
            sets ? "i.id IN (SELECT s.issue_id FROM escalated.assignments s WHERE \(match))"
                 : "EXISTS (SELECT 1 FROM escalated.assignments s WHERE s.issue_id = i.id AND \(match))"
        }
        switch actor.kind {
        case .admin, .supervisor:
            return "true"
        case .unit:
            binds.append(actor.code ?? "")
            return "i.unit_code = $\(binds.count)"
        case .agency:
            binds.append(actor.code ?? "")
            return assigned("s.target_kind = 'agency' AND s.target_code = $\(binds.count)\(responsible ? " AND s.role = 'agency'" : "")")
        case .member:
            binds.append(actor.code ?? "")
            let n = binds.count
            // The persons an issue is assigned to are on its row (`people`, as routing wrote them;
            // only routing assigns persons): a test on the row, in either form.
            return "(i.unit_code IN (\(memberUnits("$\(n)"))) OR $\(n) = ANY(i.people))"
        }
    }

    /// The units of the areas in the charge of the member `parameter` names (a `$n`).
    static func memberUnits(_ parameter: String) -> String {
        "SELECT u.code FROM escalated.units u JOIN escalated.areas a ON a.code = u.area_code WHERE a.member_code = \(parameter)"
    }
}
