import EscalationCore
import EscalationStore
import Foundation
import Testing

extension IntegrationTests {
    /// `escalated accounts` as an operator meets it.
    @Suite("The command line: accounts")
    struct AccountCommandTests {
        func run(_ arguments: [String], _ settings: DatabaseSettings) async throws -> (Int32, String) {
            let process = try DaemonProcess(arguments: arguments, environment: ["DATABASE_URL": settings.url])
            let status = try await process.waitForExit()
            return (status, process.log)
        }

        @Test("`accounts create` prints the id and the invitation path once; `list` shows it; `disable` ends it")
        func createListDisable() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let (status, log) = try await run(["accounts", "create", "--name", "Nguyễn Thị Lan", "--email", "lan@example.org",
                                               "--scope", "agency:land-dept", "--locale", "en"], settings)
            #expect(status == 0, "\(log)")
            let lines = log.split(separator: "\n").map(String.init)
            #expect(lines.first == "account 1")
            let path = try #require(lines.first { $0.hasPrefix("/invite/") })
            let secret = String(path.dropFirst("/invite/".count))
            #expect(secret.count == 43)
            // The path works: the store finds the account by it.
            let account = try await TestPostgres.withClient(settings) { client in
                try await AccountStore(client: client).linkAccount(secret: secret, purpose: .invitation, logger: testLogger)
            }
            #expect(account?.email == "lan@example.org" && account?.locale == .en && account?.scope == Actor(kind: .agency, code: "land-dept"))

            let (listed, table) = try await run(["accounts", "list"], settings)
            #expect(listed == 0)
            #expect(table.contains("Nguyễn Thị Lan") && table.contains("agency:land-dept") && !table.contains(secret), "\(table)")
            let (disabled, said) = try await run(["accounts", "disable", "1"], settings)
            #expect(disabled == 0 && said.contains("account 1 disabled"), "\(said)")
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.accounts WHERE disabled_at IS NOT NULL") == 1)
        }

        @Test("bad input to `accounts` exits 2 with one sentence, and changes nothing")
        func errors() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let create = ["accounts", "create", "--name", "Lan"]
            let good = create + ["--email", "lan@example.org", "--scope", "unit:N1"]
            #expect(try await run(good, settings).0 == 0)
            let before = try await TestPostgres.strings(settings, "SELECT row_to_json(t)::text FROM escalated.accounts t")
            let links = try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.account_links")
            let cases: [([String], String)] = [
                (create + ["--email", "lan@example.org", "--scope", "unit:ZZ"], "--scope 'unit:ZZ' names no unit in the directory"),
                (create + ["--email", "LAN@example.org", "--scope", "unit:N1"], "--email 'LAN@example.org' already belongs to an account"),
                (create + ["--email", "lan", "--scope", "unit:N1"], "--email 'lan' is not an email address"),
                (create + ["--email", "x@example.org", "--scope", "chief:N1"], "--scope 'chief:N1' does not start with an actor kind"),
                (create + ["--email", "x@example.org", "--scope", "unit"], "--scope unit needs a code: unit:CODE"),
                (create + ["--email", "x@example.org", "--scope", "unit:N1", "--locale", "fr"], "--locale must be 'vi' or 'en' (got 'fr')"),
                (["accounts", "create", "--name", " ", "--email", "x@example.org", "--scope", "unit:N1"], "--name must not be empty"),
                (["accounts", "disable", "abc"], "the account id must be a positive whole number (got 'abc')"),
                (["accounts", "disable", "99"], "account 99 does not exist or was disabled before"),
            ]
            for (arguments, message) in cases {
                let (status, log) = try await run(arguments, settings)
                #expect(status == 2, "\(arguments): \(log)")
                #expect(log.hasPrefix("escalated: ") && log.contains(message), "\(arguments): \(log)")
                #expect(log.split(separator: "\n").count == 1, "one sentence: \(log)")
            }
            #expect(try await TestPostgres.strings(settings, "SELECT row_to_json(t)::text FROM escalated.accounts t") == before)
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.account_links") == links)
        }
    }
}
