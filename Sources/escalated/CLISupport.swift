import ArgumentParser
import EscalationServer
import EscalationStore
import Foundation
import Logging
import PostgresCluster
import PostgresNIO

/// A problem the user can fix, said in one sentence; the command exits 2.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// `--database-url`, shared by every command that works on the database.
struct DatabaseOption: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "postgres://user:password@host:port/database (env DATABASE_URL).")
    var url: String?
}

enum CLI {
    /// Sets up logging once, to standard error, at `level`.
    static func bootstrapLogging(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "escalated")
    }

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The database: `--database-url`, then `DATABASE_URL`, then (for the CLI commands, never for
    /// `serve`) the database of a demo running as this user.
    static func databaseSettings(_ flag: String?, allowDemo: Bool = true) throws -> DatabaseSettings {
        if let url = flag ?? environment["DATABASE_URL"], !url.isEmpty {
            do { return try DatabaseSettings(url: url) } catch { throw CLIError(error.message) }
        }
        guard allowDemo else {
            throw CLIError("no database: set DATABASE_URL (postgres://user:password@host:5432/database) or pass --database-url")
        }
        let demoFile = PostgresCluster.defaultDemoDirectory() + "/" + DemoCommand.urlFileName
        if let url = try? String(contentsOfFile: demoFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !url.isEmpty {
            return try DatabaseSettings(url: url)
        }
        throw CLIError("no database: set DATABASE_URL (postgres://user:password@host:5432/database), pass --database-url, or start `escalated demo`")
    }

    static func logLevel(_ flag: String?, default fallback: Logger.Level) throws -> Logger.Level {
        guard let text = flag ?? environment["ESCALATED_LOG_LEVEL"], !text.isEmpty else { return fallback }
        do { return try DaemonConfiguration.parseLogLevel(text) } catch { throw CLIError(error.message) }
    }

    /// Runs a command's database work: the database from `databaseURL` (as `databaseSettings`
    /// finds it), logging of warnings and errors (or `ESCALATED_LOG_LEVEL`), a pool for the call.
    static func withDatabase<T: Sendable>(_ databaseURL: String?, _ body: @escaping @Sendable (Database, Logger) async throws -> T) async throws -> T {
        let settings = try databaseSettings(databaseURL)
        let logger = bootstrapLogging(level: try logLevel(nil, default: .warning))
        return try await Daemon.withClient(settings, applicationName: "escalated-cli", logger: logger) { client in
            try await body(client, logger)
        }
    }

    /// An id argument: a positive whole number, or a sentence saying what it must be.
    static func positiveID(_ text: String, of what: String) throws -> Int64 {
        guard let id = Int64(text), id > 0 else { throw CLIError("the \(what) id must be a positive whole number (got '\(text)')") }
        return id
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data("escalated: \(message)\n".utf8))
    }
}
