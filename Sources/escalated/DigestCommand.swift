import ArgumentParser
import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Logging

/// `escalated digest send`: a digest now, for one supervisor group or all.
struct DigestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Make supervisor digests on demand.",
        subcommands: [Send.self]
    )

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a digest now and queue it for each member; a running daemon sends it.",
            discussion: "On-demand digests come in addition to the daily ones, which go out once a day at each group's digest_at."
        )

        @Option(help: "Only this supervisor group (default: every group).") var group: String?
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let wanted = group
            let made = try await CLI.withDatabase(database.url) { client, logger in
                let compiled = try await DigestService.directory(client: client, cache: RoutingTableCache(), logger: logger)
                let store = DigestStore(client: client, instance: "cli")
                let groups = compiled.directory.groups.filter { wanted == nil || $0.code == wanted }
                if let wanted, groups.isEmpty { throw CLIError("--group '\(wanted)' is not a supervisor group in the directory") }
                let day = DigestService.local(try await store.now(logger: logger), directory: compiled.directory).day
                var made: [(String, Int64)] = []
                for group in groups {
                    if let id = try await DigestService.make(group: group.code, day: day, scheduled: false, compiled: compiled, store: store, logger: logger) {
                        made.append((group.code, id))
                    }
                }
                return made
            }
            if made.isEmpty { print("no supervisor group in the directory") }
            for (group, id) in made { print("digest \(id) for \(group) queued") }
        }
    }
}
