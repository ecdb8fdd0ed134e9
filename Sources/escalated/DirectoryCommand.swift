import ArgumentParser
import EscalationCore
import EscalationServer
import EscalationStore
import EscalationYAML
import Foundation
import Logging

struct DirectoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directory",
        abstract: "Import or export the directory: people, areas, units, agencies, sectors and routing rules.",
        subcommands: [Import.self, Export.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a directory file and replace the stored directory with it, in one transaction.",
            discussion: "Every problem is reported (file:line: entry: field: message) and nothing is written unless the whole file is valid. Importing the same file twice changes nothing. Routers pick up the change without a restart."
        )

        @Argument(help: "The YAML file to import.")
        var file: String

        @OptionGroup var database: DatabaseOption

        @Flag(help: "Only validate the file; write nothing.")
        var check = false

        func run() async throws {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw CLIError("cannot read \(file): \(error.localizedDescription)")
            }
            let directory = try DirectoryFile.parse(text, file: file)
            if check {
                print("\(file) is valid: \(summary(directory))")
                return
            }
            let result = try await CLI.withDatabase(database.url) { client, logger in
                try await DirectoryStore(client: client).importDirectory(directory, logger: logger)
            }
            print(result.changed
                ? "directory imported as revision \(result.revision): \(summary(directory))"
                : "directory unchanged (revision \(result.revision))")
        }

        func summary(_ d: Directory) -> String {
            "\(d.units.count) units, \(d.areas.count) areas, \(d.people.count) people, \(d.agencies.count) agencies, \(d.sectors.count) sectors, \(d.rules.count) routing rules"
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the stored directory as YAML (to standard output, or --output FILE); it imports back to the same state."
        )

        @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
        var output: String?

        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let loaded = try await CLI.withDatabase(database.url) { client, logger in
                try await DirectoryStore(client: client).load(logger: logger)
            }
            let text = DirectoryFile.render(loaded.directory, header: "escalated directory, revision \(loaded.revision)")
            if let output {
                do {
                    try text.write(toFile: output, atomically: true, encoding: .utf8)
                } catch {
                    throw CLIError("cannot write \(output): \(error.localizedDescription)")
                }
            } else {
                print(text, terminator: "")
            }
        }
    }
}
