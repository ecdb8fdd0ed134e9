import ArgumentParser
import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Logging

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "File a report from the shell; it is routed like one sent to the API."
    )

    @Option(help: "The reporting unit's code.") var unit: String
    @Option(help: "The sector's code.") var sector: String
    @Option(help: "A one-line title (1 to 200 characters).") var title: String
    @Option(help: "What happened (up to 10,000 characters).") var description: String?
    @Option(help: "normal (default) or urgent.") var severity: String?
    @Option(help: "Who reports it.") var reporter: String?
    @OptionGroup var database: DatabaseOption
    @Flag(help: "Print the stored issue as JSON.") var json = false

    func run() async throws {
        let issue: NewIssue
        do {
            issue = try NewIssue.validated(unit: unit, sector: sector, severity: severity, title: title, description: description, reporter: reporter)
        } catch {
            throw CLIError("--\(error.field) \(error.message)")
        }
        let stored = try await CLI.withDatabase(database.url) { client, logger in
            let store = IssueStore(client: client)
            do {
                let created = try await store.create(issue, origin: .cli, logger: logger)
                return try await store.get(id: created.id, logger: logger)
            } catch let error as IssueStore.CreateError {
                switch error {
                case .unknown(let field, let code): throw CLIError("--\(field) '\(code)' is not a \(field) in the directory")
                case .idempotencyKeyReused: throw CLIError("the report was refused")
                }
            }
        }
        guard let stored else { throw CLIError("the issue was stored but could not be read back") }
        if json {
            print(try IssuePrinter.json(stored))
        } else {
            print("issue \(stored.id) stored (state: \(stored.state.rawValue)); see it with `escalated issues show \(stored.id)`")
        }
    }
}

struct IssuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issues",
        abstract: "List issues or show one with its assignments and history.",
        subcommands: [List.self, Show.self, ActionCommands.Acknowledge.self, ActionCommands.Comment.self, ActionCommands.Reassign.self, ActionCommands.Resolve.self,
                      ActionCommands.Reopen.self, ActionCommands.Extend.self, ActionCommands.Close.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List issues, newest first (with --overdue: past their deadline, the longest overdue first).")

        @Option(help: "Only this unit.") var unit: String?
        @Option(help: "Only this sector.") var sector: String?
        @Option(help: "Only issues routed to this agency.") var agency: String?
        @Option(help: "Only this state (reported, routed, unroutable, ...).") var state: String?
        @Flag(help: "Only issues past their running deadline, the longest overdue first.") var overdue = false
        @Option(help: "At most this many (1 to 200, default 50).") var limit: Int = 50
        @OptionGroup var database: DatabaseOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            var filter = IssueFilter(unit: unit, sector: sector, agency: agency, overdue: overdue, limit: limit)
            for (name, value) in [("unit", unit), ("sector", sector), ("agency", agency)] {
                if let value, !Code.isValid(value) { throw CLIError("--\(name) '\(value)' is not a valid code") }
            }
            if let state {
                guard let parsed = IssueState(rawValue: state) else {
                    throw CLIError("--state must be one of \(IssueState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                filter.state = parsed
            }
            guard (1...IssueFilter.maximumLimit).contains(limit) else {
                throw CLIError("--limit must be from 1 to \(IssueFilter.maximumLimit)")
            }
            let query = filter
            let page = try await CLI.withDatabase(database.url) { client, logger in
                try await IssueStore(client: client).list(query, logger: logger)
            }
            if json {
                print(try IssuePrinter.json(page.items))
                return
            }
            print("ID".padding(8) + "STATE".padding(12) + "SEVERITY".padding(10) + "UNIT".padding(14) + "SECTOR".padding(14) + "TITLE")
            for issue in page.items {
                print("\(issue.id)".padding(8) + issue.state.rawValue.padding(12) + issue.severity.rawValue.padding(10)
                      + issue.unit.padding(14) + issue.sector.padding(14) + issue.title)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one issue with its assignments and full history.")

        @Argument(help: "The issue id.") var id: String
        @OptionGroup var database: DatabaseOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let issueID = try CLI.positiveID(id, of: "issue")
            let issue = try await CLI.withDatabase(database.url) { client, logger in
                try await IssueStore(client: client).get(id: issueID, logger: logger)
            }
            guard let issue else { throw CLIError("issue \(issueID) does not exist") }
            if json {
                print(try IssuePrinter.json(issue))
                return
            }
            print("issue \(issue.id): \(issue.title)")
            print("  unit \(issue.unit), sector \(issue.sector), \(issue.severity.rawValue), state \(issue.state.rawValue), version \(issue.version)")
            if !issue.description.isEmpty { print("  \(issue.description)") }
            let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
            if let ack = issue.deadlines.acknowledgeDueAt, let resolve = issue.deadlines.resolveDueAt {
                print("deadlines: acknowledge by \(ack.formatted(iso)), resolve by \(resolve.formatted(iso))\(issue.deadlines.overdue ? " (overdue)" : "")")
            }
            if let chain = issue.escalation.chain {
                let next = issue.escalation.next.map { ", next: level \($0.level)\($0.repeat > 0 ? " reminder \($0.repeat)" : "") at \($0.at.formatted(iso))" } ?? ""
                print("escalation: chain \(chain), level \(issue.escalation.level)\(next)")
            }
            print("assignments:")
            for a in issue.assignments ?? [] {
                print("  \(a.role.rawValue.padding(8)) \(a.kind.rawValue):\(a.code)\(a.rule.map { " (rule \($0))" } ?? "")")
            }
            print("history:")
            for e in issue.events ?? [] {
                print("  \(e.at.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))  \(e.kind.padding(11)) by \(e.actor)")
            }
        }
    }
}

enum IssuePrinter {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
