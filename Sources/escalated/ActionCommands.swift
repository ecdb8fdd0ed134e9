import ArgumentParser
import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Logging

/// `escalated issues acknowledge|resolve|reopen|extend|close ID`: the HTTP actions, from the shell.
enum ActionCommands {
    /// What every action takes besides its own options.
    struct Common: ParsableArguments {
        @Argument(help: "The issue id.") var id: String
        @Option(help: "Who acts, written into the event (default cli).") var actor: String?
        @Option(help: "postgres://user:password@host:port/database (env DATABASE_URL).") var databaseURL: String?

        /// Checks the id and actor, performs `action`, and prints the new state.
        func perform(_ action: LifecycleStore.Action) async throws {
            guard let issueID = Int64(id), issueID > 0 else { throw CLIError("the issue id must be a positive whole number (got '\(id)')") }
            var who = "cli"
            if let actor {
                do {
                    who = try ActionText.actor(actor)
                } catch {
                    throw CLIError("--actor \(error.message)")
                }
            }
            let settings = try CLI.databaseSettings(databaseURL)
            let logger = CLI.bootstrapLogging(level: try CLI.logLevel(nil, default: .warning))
            let by = who
            let state = try await Daemon.withClient(settings, applicationName: "escalated-cli", logger: logger) { client in
                do {
                    return try await LifecycleStore(client: client, cache: RoutingTableCache())
                        .perform(action, issue: issueID, actor: by, logger: logger)
                } catch let error as LifecycleStore.ActionError {
                    switch error {
                    case .notFound: throw CLIError("issue \(issueID) does not exist")
                    case .conflict(let state, let allowed):
                        throw CLIError("issue \(issueID) is \(state.rawValue); \(action.name) applies to \(allowed.map(\.rawValue).joined(separator: " or ")) issues")
                    case .noDeadline(let clock): throw CLIError("issue \(issueID) has no \(clock.rawValue) deadline to extend")
                    }
                }
            }
            print("issue \(issueID) is \(state.rawValue); see it with `escalated issues show \(issueID)`")
        }
    }

    static func text(_ value: String, option: String) throws -> String {
        do {
            return try ActionText.reason(value, field: option)
        } catch {
            throw CLIError("--\(option) \(error.message)")
        }
    }

    struct Acknowledge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Acknowledge a routed issue: stops its acknowledgement clock.")
        @OptionGroup var common: Common
        func run() async throws { try await common.perform(.acknowledge) }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resolve an issue: stops every clock and every later escalation.")
        @OptionGroup var common: Common
        @Option(help: "What was done (up to 5,000 characters).") var resolution: String
        func run() async throws { try await common.perform(.resolve(resolution: try ActionCommands.text(resolution, option: "resolution"))) }
    }

    struct Reopen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reopen a resolved issue: restarts its resolution clock.")
        @OptionGroup var common: Common
        @Option(help: "Why (up to 5,000 characters).") var reason: String
        func run() async throws { try await common.perform(.reopen(reason: try ActionCommands.text(reason, option: "reason"))) }
    }

    struct Extend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move a deadline later, with a reason.")
        @OptionGroup var common: Common
        @Option(help: "acknowledge or resolve.") var deadline: String
        @Option(help: "How much later, in counted time (4h, 90m, 1h30m, 2d, 30s).") var by: String
        @Option(help: "Why (up to 5,000 characters).") var reason: String
        func run() async throws {
            guard let clock = DeadlineClock(rawValue: deadline) else { throw CLIError("--deadline must be acknowledge or resolve (got '\(deadline)')") }
            guard let seconds = DurationText.seconds(by) else { throw CLIError("--by '\(by)' is not a duration such as 4h, 90m, 1h30m, 2d or 30s") }
            try await common.perform(.extend(deadline: clock, bySeconds: seconds, reason: try ActionCommands.text(reason, option: "reason")))
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a resolved issue.")
        @OptionGroup var common: Common
        func run() async throws { try await common.perform(.close) }
    }
}
