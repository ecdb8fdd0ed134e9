#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ArgumentParser
import EscalationCore
import EscalationServer
import EscalationStore
import EscalationYAML
import Foundation
import NIOPosix
import PostgresNIO
import PostgresCluster


/// `escalated`: routes reported difficulties to whoever must act, and escalates what is late.
struct Escalated: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escalated",
        abstract: "Routes reported difficulties to the responsible agency and area member, and escalates what is overdue.",
        subcommands: [
            ServeCommand.self, DemoCommand.self, MigrateCommand.self, DirectoryCommand.self,
            ReportCommand.self, IssuesCommand.self, DeliveriesCommand.self, TokensCommand.self, AccountsCommand.self, DigestCommand.self, BenchCommand.self,
        ]
    )
}

// The daemon's tasks run on NIO's event loops, which do its network I/O (PostgreSQL, SMTP, HTTP),
// instead of on a pool of their own: each await on a reply then resumes on the thread that read it,
// not after a wake-up of another thread (an email's SMTP steps and its outcome's statement were
// some 15 thread switches; BENCHMARKS.md, issue 15). Only for the long-running commands, where
// nothing holds a thread while the daemon serves: bcrypt runs on NIO's thread pool, and the demo's
// own PostgreSQL is started (waited for with waitpid) before the daemon and stopped after it.
// Must come before any task starts.
if let command = CommandLine.arguments.dropFirst().first, command == "serve" || command == "demo" {
    _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}

// Line-buffered output, so nothing printed is lost if the process is killed.
setvbuf(stdout, nil, _IOLBF, 0)

/// Calls the async `run()` (an existential call would pick the synchronous default).
func runAsync<Command: AsyncParsableCommand>(_ command: inout Command) async throws {
    try await command.run()
}

do {
    var command = try await Escalated.asyncParseAsRoot()
    if var asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(&asyncCommand)
    } else {
        try command.run()
    }
} catch let error as CLIError {
    CLI.printError(error.message)
    exit(2)
} catch let error as SettingsError {
    CLI.printError(error.message)
    exit(2)
} catch let error as ClusterError {
    CLI.printError(error.message)
    exit(2)
} catch let error as DirectoryFile.ParseError {
    CLI.printError(error.description)
    exit(2)
} catch let error as DirectoryValidationError {
    CLI.printError(error.description)
    exit(2)
} catch let error as FieldError {
    CLI.printError(error.description)
    exit(2)
} catch {
    let code = Escalated.exitCode(for: error)
    if code == .success {
        print(Escalated.fullMessage(for: error))
        exit(0)
    }
    if code == .validationFailure {
        CLI.printError(Escalated.fullMessage(for: error))
        exit(2)
    }
    if let exitCode = error as? ExitCode {
        exit(exitCode.rawValue)
    }
    // PostgresNIO hides the server's words by default; the server's message and SQLSTATE say
    // what went wrong and carry no credentials.
    if let error = error as? PSQLError, let message = error.serverInfo?[.message] {
        CLI.printError("the database refused: \(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))")
        exit(1)
    }
    CLI.printError("\(error)")
    exit(1)
}
