import ArgumentParser
import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Logging

/// `escalated tokens create|list|revoke`: API tokens, for operators.
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Make, list and revoke API tokens (each names one actor: unit, agency, member, supervisor or admin).",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token and print it once; only its hash is kept.")

        @Option(help: "Whom it speaks for: unit:CODE, agency:CODE, member:PERSON, supervisor:PERSON or admin.") var actor: String
        @Option(help: "What it is for (1 to 100 characters), shown in lists.") var name: String
        @Option(help: "Days until it expires (1 to 3650; default never).") var expiresInDays: Int?
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let who: Actor
            let label: String
            do {
                who = try Actor.parse(actor, field: "--actor")
                label = try TokenText.name(name)
            } catch {
                throw CLIError(flag: error)
            }
            if let days = expiresInDays, !(1...3650).contains(days) { throw CLIError("--expires-in-days must be from 1 to 3650 (got \(days))") }
            let expires = expiresInDays.map { Date().addingTimeInterval(Double($0) * 86_400) }
            let made = try await CLI.withDatabase(database.url) { client, logger in
                do {
                    return try await TokenStore(client: client).create(actor: who, name: label, expiresAt: expires, logger: logger)
                } catch TokenStore.TokenError.unknownActor(let text) {
                    throw CLIError("--actor '\(text)' names no \(who.kind.rawValue) in the directory")
                }
            }
            print(made.secret)
            FileHandle.standardError.write(Data("token \(made.token.id) for \(made.token.actor) (\(made.token.name)); it is shown this once, keep it safe\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens, newest first (never the tokens themselves).")
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let tokens = try await CLI.withDatabase(database.url) { client, logger in
                try await TokenStore(client: client).list(logger: logger)
            }
            let widths = [6, 30, 26, 22, 22, 0]
            print(CLI.row(["ID", "ACTOR", "NAME", "EXPIRES", "LAST USED", "REVOKED"], widths: widths))
            for t in tokens {
                print(CLI.row(["\(t.id)", t.actor, t.name, CLI.time(t.expiresAt), CLI.time(t.lastUsedAt), CLI.time(t.revokedAt)], widths: widths))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: refused from now on (by a running daemon within its token cache time, 5 s by default).")
        @Argument(help: "The token id (from `escalated tokens list`).") var id: String
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let tokenID = try CLI.positiveID(id, of: "token")
            let revoked = try await CLI.withDatabase(database.url) { client, logger in
                try await TokenStore(client: client).revoke(id: tokenID, logger: logger)
            }
            guard revoked else { throw CLIError("token \(tokenID) does not exist or was revoked before") }
            print("token \(tokenID) revoked")
        }
    }
}
