import Foundation
public import Logging
import PostgresNIO

/// One numbered SQL file from `sql/`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String
    /// SHA-256 of the file, hex; an applied file whose checksum changed is an error.
    public var checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = DirectoryStore.sha256(sql)
    }
}

/// What the database holds compared with the migrations this build ships.
public struct MigrationStatus: Sendable, Equatable {
    /// Shipped but not applied, in order.
    public var pending: [Migration]
    /// Applied files whose text changed since (version, name).
    public var changed: [(Int, String)]
    /// Applied versions this build does not know (the database is newer than the binary).
    public var unknown: [Int]

    public var isCurrent: Bool { pending.isEmpty && changed.isEmpty && unknown.isEmpty }

    public static func == (a: MigrationStatus, b: MigrationStatus) -> Bool {
        a.pending == b.pending && a.changed.map(\.0) == b.changed.map(\.0) && a.unknown == b.unknown
    }

    /// One sentence for an operator, or nil when current.
    public var problem: String? {
        if let (version, name) = changed.first {
            return "migration \(version) (\(name)) was changed after it was applied; restore the original file"
        }
        if let version = unknown.first {
            return "the database has migration \(version), which this build of escalated does not know; run a newer escalated"
        }
        if !pending.isEmpty {
            let names = pending.map { "\($0.version) (\($0.name))" }.joined(separator: ", ")
            return "the database lacks migration \(names); run `escalated migrate` or `escalated serve --migrate`"
        }
        return nil
    }
}

/// Applies the shipped migrations, forward only, each in its own transaction.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    /// The advisory lock that serialises migrations across replicas.
    static let lockKey: Int64 = 7_312_001

    /// The migrations in `sql/`, embedded in the binary at build time.
    public static func bundled() throws -> [Migration] {
        try parse(files: EmbeddedMigrations.files.map { file in
            (file.name, String(decoding: Data(base64Encoded: file.base64) ?? Data(), as: UTF8.self))
        })
    }

    /// Orders `NNN_name.sql` files by number; names must follow the pattern and numbers be unique.
    static func parse(files: [(name: String, text: String)]) throws -> [Migration] {
        var migrations: [Migration] = []
        for (file, sql) in files {
            let stem = file.dropLast(4)
            guard file.hasSuffix(".sql"), let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw SettingsError("migration file \(file) must be named NNN_name.sql")
            }
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (a, b) in zip(migrations, migrations.dropFirst()) where a.version == b.version {
            throw SettingsError("two migration files have number \(a.version)")
        }
        return migrations
    }

    public init(migrations: [Migration]) {
        self.migrations = migrations
    }

    /// Compares the database with the shipped migrations without changing anything.
    public func status(client: Database, logger: Logger) async throws -> MigrationStatus {
        let exists = try await client.query(
            "SELECT to_regclass('escalated.schema_migrations') IS NOT NULL", logger: logger
        ).decode(Bool.self).first { _ in true } ?? false
        var applied: [Int: String] = [:]
        if exists {
            for try await (version, checksum) in try await client.query(
                "SELECT version, checksum FROM escalated.schema_migrations", logger: logger
            ).decode((Int, String).self) {
                applied[version] = checksum
            }
        }
        return compare(applied: applied)
    }

    func compare(applied: [Int: String]) -> MigrationStatus {
        let known = Set(migrations.map(\.version))
        return MigrationStatus(
            pending: migrations.filter { applied[$0.version] == nil },
            changed: migrations.compactMap { m in
                applied[m.version].flatMap { $0 == m.checksum ? nil : (m.version, m.name) }
            },
            unknown: applied.keys.filter { !known.contains($0) }.sorted()
        )
    }

    /// Applies every pending migration; returns the versions applied.
    ///
    /// Replicas may call this at once: a transaction-level advisory lock serialises them, and
    /// each re-reads what is applied under the lock. A changed applied file stops everything.
    @discardableResult
    public func migrate(client: Database, logger: Logger) async throws -> [Int] {
        try await client.inTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            try await connection.query("CREATE SCHEMA IF NOT EXISTS escalated", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS escalated.schema_migrations (
                    version    int PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
        }
        var appliedNow: [Int] = []
        for migration in migrations {
            let applied: Bool = try await client.inTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
                let existing = try await connection.query(
                    "SELECT checksum FROM escalated.schema_migrations WHERE version = \(migration.version)",
                    logger: logger
                ).decode(String.self).first { _ in true }
                if let existing {
                    guard existing == migration.checksum else {
                        throw SettingsError("migration \(migration.version) (\(migration.name)) was changed after it was applied; restore the original file")
                    }
                    return false
                }
                // The file is ours (shipped in the binary), so it runs as written, a statement at a time.
                for statement in SQLScript.statements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("""
                    INSERT INTO escalated.schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """, logger: logger)
                return true
            }
            if applied {
                logger.info("applied migration", metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
                appliedNow.append(migration.version)
            }
        }
        let status = try await status(client: client, logger: logger)
        if let problem = status.problem { throw SettingsError(problem) }
        return appliedNow
    }
}

extension Database {
    /// `withTransaction`, rethrowing the closure's own error rather than PostgresNIO's wrapper,
    /// so callers can match the errors they threw.
    func inTransaction<Result: Sendable>(
        logger: Logger,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        do {
            return try await withTransaction(logger: logger, body)
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError { throw closureError }
            throw error
        }
    }
}

extension AsyncSequence {
    /// The first element matching `predicate`, consuming no more of the sequence than needed.
    func first(where predicate: (Element) -> Bool) async throws -> Element? {
        for try await element in self where predicate(element) { return element }
        return nil
    }
}
