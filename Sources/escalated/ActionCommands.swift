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
        @Option(name: .customLong("as"), help: ArgumentHelp(
            "Who acts, as KIND:CODE (unit:N1, agency:land-dept, member:m-north, supervisor:p-chair, admin:NAME); default admin:cli. The action is held to that actor's scope and rights, as over HTTP.",
            valueName: "actor")) var actor: String?
        @Option(help: "Act only if the issue is still at this version (as If-Match does).") var ifVersion: Int?
        @OptionGroup var database: DatabaseOption

        /// Checks the id and actor, performs `action`, and prints the new state.
        func perform(_ action: IssueAction) async throws {
            let issueID = try CLI.positiveID(id, of: "issue")
            var who = Actor(kind: .admin, code: "cli")
            if let actor {
                do {
                    who = try Actor.parse(actor, field: "--as")
                } catch {
                    throw CLIError("--as \(error.message)")
                }
            }
            if let ifVersion, ifVersion < 1 { throw CLIError("--if-version must be a positive whole number (got \(ifVersion))") }
            let by = who, expected = ifVersion
            let result = try await CLI.withDatabase(database.url) { client, logger in
                do {
                    return try await LifecycleStore(client: client, cache: RoutingTableCache())
                        .perform(action, issue: issueID, actor: by, expectedVersion: expected, logger: logger)
                } catch let error as IssueActionError {
                    switch error {
                    case .notFound: throw CLIError("issue \(issueID) does not exist, or \(by) may not see it")
                    case .forbidden(let kind):
                        let kinds = Actor.kinds(allowedTo: action.operation).map(\.rawValue).joined(separator: ", ")
                        throw CLIError("\(kind.rawValue) actors may not \(action.name) issues (allowed: \(kinds))")
                    case .staleVersion(let current):
                        throw CLIError("issue \(issueID) is at version \(current), not \(expected ?? 0); read it again before acting")
                    case .conflict(let state, let allowed):
                        throw CLIError("issue \(issueID) is \(state.rawValue); \(action.name) applies to \(allowed.map(\.rawValue).joined(separator: " or ")) issues")
                    case .noDeadline(let clock): throw CLIError("issue \(issueID) has no \(clock.rawValue) deadline to extend")
                    case .unknownAgency(let code): throw CLIError("--agency '\(code)' is not an agency in the directory")
                    case .alreadyAssigned(let code): throw CLIError("issue \(issueID) is already assigned to \(code)")
                    case .notResponsible(let current):
                        throw CLIError("issue \(issueID) was handed over; \(current.joined(separator: ", ")) is responsible for it now")
                    }
                }
            }
            print("issue \(issueID) is \(result.state.rawValue) (version \(result.version)); see it with `escalated issues show \(issueID)`")
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

    struct Comment: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Comment on an issue: guidance, an opinion, a direction or a note.")
        @OptionGroup var common: Common
        @Option(help: "note, guidance, opinion or direction (default note).") var kind: String = "note"
        @Option(help: "The comment (up to 5,000 characters).") var text: String
        func run() async throws {
            guard let parsed = CommentKind(rawValue: kind) else {
                throw CLIError("--kind must be one of \(CommentKind.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(kind)')")
            }
            try await common.perform(.comment(kind: parsed, text: try ActionCommands.text(text, option: "text")))
        }
    }

    struct Reassign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hand an issue to another agency, with a reason; it must acknowledge anew.")
        @OptionGroup var common: Common
        @Option(help: "The agency code to hand the issue to.") var agency: String
        @Option(help: "Why (up to 5,000 characters).") var reason: String
        func run() async throws {
            guard Code.isValid(agency) else { throw CLIError("--agency '\(agency)' is not an agency code") }
            try await common.perform(.reassign(agency: agency, reason: try ActionCommands.text(reason, option: "reason")))
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a resolved issue.")
        @OptionGroup var common: Common
        func run() async throws { try await common.perform(.close) }
    }
}
