import ArgumentParser
import EscalationServer
import EscalationStore
import Foundation
import Logging

/// `escalated deliveries list|retry`: the outbox, for operators.
struct DeliveriesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliveries",
        abstract: "List the messages in the outbox (dead letters first of all) or re-drive a dead one.",
        subcommands: [List.self, Retry.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List deliveries, newest first.")

        @Option(help: "Only this state: pending, sent or dead.") var state: String?
        @Option(help: "At most this many (1 to 200, default 50).") var limit: Int = 50
        @OptionGroup var database: DatabaseOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            if let state, !["pending", "sent", "dead"].contains(state) { throw CLIError("--state must be one of pending, sent, dead (got '\(state)')") }
            guard (1...200).contains(limit) else { throw CLIError("--limit must be from 1 to 200") }
            let (state, limit) = (self.state, self.limit)
            let items = try await CLI.withDatabase(database.url) { client, logger in
                try await DeliveryStore(client: client, instance: "cli").list(state: state, before: nil, limit: limit, logger: logger)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(items), as: UTF8.self))
                return
            }
            func row(_ cells: [String]) -> String {
                zip(cells, [8, 9, 11, 9, 7, 8, 34, 0]).map { $1 == 0 ? $0 : $0.padding($1) }.joined()
            }
            print(row(["ID", "STATE", "KIND", "CHANNEL", "TRIES", "ISSUE", "RECIPIENT", "LAST ANSWER"]))
            for d in items {
                print(row(["\(d.id)", d.state, d.kind, d.channel, "\(d.attempts)", d.issueID.map { "\($0)" } ?? "-", d.recipient, d.lastAnswer ?? ""]))
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-drive a dead delivery: pending again, due now, attempts from zero.")

        @Argument(help: "The delivery id.") var id: String
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let deliveryID = try CLI.positiveID(id, of: "delivery")
            let found = try await CLI.withDatabase(database.url) { client, logger in
                try await DeliveryStore(client: client, instance: "cli").retry(id: deliveryID, logger: logger)
            }
            guard found else { throw CLIError("delivery \(deliveryID) does not exist or is not dead") }
            print("delivery \(deliveryID) is pending again")
        }
    }
}
