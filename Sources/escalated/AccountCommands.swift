import ArgumentParser
import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Logging

/// `escalated accounts create|list|disable`: the people who sign in to the web app, for operators.
struct AccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "Make, list and disable web accounts (each bound to one scope: unit, agency, member, supervisor or admin).",
        subcommands: [Create.self, List.self, Disable.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an account and print its id and invitation link path once (the person sets a password through it within 7 days)."
        )

        @Option(help: "The person's name (1 to 100 characters).") var name: String
        @Option(help: "Their email address, unique among accounts (without regard to case).") var email: String
        @Option(help: "What they act as: unit:CODE, agency:CODE, member:PERSON, supervisor:PERSON or admin.") var scope: String
        @Option(help: "The language of their pages and emails: vi or en.") var locale: String = "vi"
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let who: Actor
            let label: String
            let address: String
            let language: PersonLocale
            do {
                who = try Actor.parse(scope, field: "--scope")
                label = try TokenText.name(name)
                address = try AccountText.email(email, field: "--email")
                language = try AccountText.locale(locale, field: "--locale")
            } catch {
                throw CLIError(flag: error)
            }
            let made = try await CLI.withDatabase(database.url) { client, logger in
                do {
                    return try await AccountStore(client: client).create(name: label, email: address, locale: language, scope: who, logger: logger)
                } catch AccountStore.AccountError.unknownScope(let text) {
                    throw CLIError("--scope '\(text)' names no \(who.kind.rawValue) in the directory")
                } catch AccountStore.AccountError.duplicateEmail(let text) {
                    throw CLIError("--email '\(text)' already belongs to an account")
                }
            }
            print("account \(made.account.id)")
            print(LinkPurpose.invitation.path(secret: made.invitation))
            FileHandle.standardError.write(Data("account \(made.account.id) for \(made.account.scope) (\(made.account.name)); the invitation link is shown this once and expires in \(Int(AccountSettings().invitationLifetime.timeInterval / 86_400)) days\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts, newest first (never passwords or links).")
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let accounts = try await CLI.withDatabase(database.url) { client, logger in
                try await AccountStore(client: client).list(logger: logger)
            }
            let widths = [6, 30, 30, 26, 7, 22, 0]
            print(CLI.row(["ID", "NAME", "EMAIL", "SCOPE", "LOCALE", "PASSWORD SET", "DISABLED"], widths: widths))
            for a in accounts {
                print(CLI.row(["\(a.id)", a.name, a.email, a.scope.description, a.locale.rawValue, CLI.time(a.passwordSetAt), CLI.time(a.disabledAt)], widths: widths))
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account: it cannot sign in, and its sessions and open links end at once.")
        @Argument(help: "The account id (from `escalated accounts list`).") var id: String
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let accountID = try CLI.positiveID(id, of: "account")
            let disabled = try await CLI.withDatabase(database.url) { client, logger in
                try await AccountStore(client: client).disable(id: accountID, logger: logger)
            }
            guard disabled else { throw CLIError("account \(accountID) does not exist or was disabled before") }
            print("account \(accountID) disabled")
        }
    }
}
