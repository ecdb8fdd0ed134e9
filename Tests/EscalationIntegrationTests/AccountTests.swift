import EscalationCore
@testable import EscalationStore
import Foundation
import PostgresNIO
import Testing

extension IntegrationTests {
    /// Web accounts against the real store: accounts, one-time links, passwords, throttling.
    @Suite("Accounts: links, passwords, throttling")
    struct AccountTests {
        /// Fast hashes for the tests (cost 4); one test checks the default cost.
        static let settings: AccountSettings = {
            var settings = AccountSettings()
            settings.passwordCost = 4
            return settings
        }()

        static let password = "mật khẩu đủ dài"

        /// A fresh database, its pool, and an account store over it.
        static func withStore<T: Sendable>(_ settings: AccountSettings = Self.settings,
                                           _ body: @escaping @Sendable (AccountStore, DatabaseSettings) async throws -> T) async throws -> T {
            let database = try await TestPostgres.freshDatabase()
            return try await TestPostgres.withClient(database) { client in
                try await body(AccountStore(client: client, settings: settings), database)
            }
        }

        /// An account in `scope` with `password` set through its invitation.
        static func account(_ store: AccountStore, email: String = "lan@example.org", scope: String = "unit:N1") async throws -> AccountStore.Account {
            let made = try await store.create(name: "Nguyễn Thị Lan", email: email, locale: .vi, scope: try Actor.parse(scope), logger: testLogger)
            return try await store.setPassword(secret: made.invitation, purpose: .invitation, password: password, logger: testLogger)
        }

        @Test("accounts are made bound to a scope in the directory, listed and disabled; emails are unique without regard to case")
        func createListDisable() async throws {
            try await Self.withStore { store, database in
                let lan = try await store.create(name: "Lan", email: "Lan@Example.org", locale: .vi, scope: try Actor.parse("unit:N1"), logger: testLogger)
                #expect(lan.account.scope == Actor(kind: .unit, code: "N1"))
                #expect(lan.account.passwordSetAt == nil && !lan.account.isDisabled)
                #expect(SecretText.isWellFormed(lan.invitation))
                #expect(LinkPurpose.invitation.path(secret: lan.invitation) == "/invite/\(lan.invitation)")
                // Several accounts may share a scope; every kind of scope is checked against the directory.
                for (email, scope) in [("minh@example.org", "unit:N1"), ("so@example.org", "agency:land-dept"), ("m@example.org", "member:m-north"),
                                       ("vp@example.org", "supervisor:office"), ("ops@example.org", "admin")] {
                    _ = try await store.create(name: email, email: email, locale: .en, scope: try Actor.parse(scope), logger: testLogger)
                }
                await #expect(throws: AccountStore.AccountError.duplicateEmail("lan@EXAMPLE.org")) {
                    try await store.create(name: "Lan 2", email: "lan@EXAMPLE.org", locale: .vi, scope: try Actor.parse("unit:N2"), logger: testLogger)
                }
                for scope in ["unit:ZZ", "agency:nowhere", "member:office", "supervisor:nobody"] {
                    await #expect(throws: AccountStore.AccountError.unknownScope(scope)) {
                        try await store.create(name: "X", email: "x@example.org", locale: .vi, scope: try Actor.parse(scope), logger: testLogger)
                    }
                }
                let listed = try await store.list(logger: testLogger)
                #expect(listed.map(\.email) == ["ops@example.org", "vp@example.org", "m@example.org", "so@example.org", "minh@example.org", "Lan@Example.org"])
                #expect(try await store.account(email: "LAN@example.ORG", logger: testLogger)?.id == lan.account.id)
                #expect(try await store.disable(id: lan.account.id, logger: testLogger))
                #expect(try await !store.disable(id: lan.account.id, logger: testLogger), "disabled before")
                #expect(try await !store.disable(id: 999, logger: testLogger))
                #expect(try await store.account(id: lan.account.id, logger: testLogger)?.isDisabled == true)
                // Its invitation is void with it.
                #expect(try await store.linkAccount(secret: lan.invitation, purpose: .invitation, logger: testLogger) == nil)
                #expect(try await TestPostgres.scalar(database, "SELECT count(*) FROM escalated.account_links WHERE used_at IS NULL") == 5)
            }
        }

        @Test("an invitation sets the password once; it expires; a reset link replaces the earlier one and ends the sessions")
        func links() async throws {
            try await Self.withStore { store, database in
                let made = try await store.create(name: "Lan", email: "lan@example.org", locale: .vi, scope: try Actor.parse("unit:N1"), logger: testLogger)
                #expect(try await store.linkAccount(secret: made.invitation, purpose: .invitation, logger: testLogger)?.id == made.account.id)
                #expect(try await store.linkAccount(secret: made.invitation, purpose: .reset, logger: testLogger) == nil, "not a reset link")
                // A refused password does not use the link.
                await #expect(throws: FieldError(field: "password", message: "must be at least 10 characters")) {
                    try await store.setPassword(secret: made.invitation, purpose: .invitation, password: "ngắn", logger: testLogger)
                }
                let set = try await store.setPassword(secret: made.invitation, purpose: .invitation, password: Self.password, logger: testLogger)
                #expect(set.passwordSetAt != nil)
                await #expect(throws: AccountStore.LinkError.invalid) {
                    try await store.setPassword(secret: made.invitation, purpose: .invitation, password: "một mật khẩu khác", logger: testLogger)
                }
                await #expect(throws: AccountStore.LinkError.invalid) {
                    try await store.setPassword(secret: SecretText.make(), purpose: .invitation, password: Self.password, logger: testLogger)
                }
                // Expiry: an invitation past its time cannot be used.
                let late = try await store.create(name: "Minh", email: "minh@example.org", locale: .en, scope: try Actor.parse("unit:N2"), logger: testLogger)
                try await TestPostgres.execute(database, "UPDATE escalated.account_links SET expires_at = now() - interval '1 second' WHERE account_id = \(late.account.id)")
                #expect(try await store.linkAccount(secret: late.invitation, purpose: .invitation, logger: testLogger) == nil)
                await #expect(throws: AccountStore.LinkError.invalid) {
                    try await store.setPassword(secret: late.invitation, purpose: .invitation, password: Self.password, logger: testLogger)
                }
                #expect(try await TestPostgres.scalar(database, """
                    SELECT round(extract(epoch FROM expires_at - created_at))::bigint FROM escalated.account_links WHERE account_id = \(made.account.id)
                    """) == 7 * 86_400)

                // Reset: unknown emails get nothing; a second request voids the first link; using it signs out everywhere.
                #expect(try await store.requestReset(email: "nobody@example.org", logger: testLogger) == nil)
                let signedIn = try await store.signIn(email: "lan@example.org", password: Self.password, address: "10.0.0.1", logger: testLogger)
                let first = try #require(try await store.requestReset(email: "LAN@example.org", logger: testLogger))
                let second = try #require(try await store.requestReset(email: "lan@example.org", logger: testLogger))
                #expect(try await store.linkAccount(secret: first.secret, purpose: .reset, logger: testLogger) == nil)
                #expect(try await TestPostgres.scalar(database, """
                    SELECT round(extract(epoch FROM expires_at - created_at))::bigint FROM escalated.account_links WHERE used_at IS NULL AND purpose = 'reset'
                    """) == 3600)
                _ = try await store.setPassword(secret: second.secret, purpose: .reset, password: "mật khẩu mới toanh", logger: testLogger)
                #expect(try await SessionStore(client: store.client).authenticate(signedIn.secret, logger: testLogger) == nil)
                await #expect(throws: AccountStore.SignInError.invalidCredentials) {
                    try await store.signIn(email: "lan@example.org", password: Self.password, address: "10.0.0.1", logger: testLogger)
                }
                _ = try await store.signIn(email: "lan@example.org", password: "mật khẩu mới toanh", address: "10.0.0.1", logger: testLogger)
            }
        }

        @Test("two requests using one link at the same time: exactly one sets the password")
        func concurrentUse() async throws {
            try await Self.withStore { store, database in
                for round in 0..<5 {
                    let made = try await store.create(name: "Lan", email: "lan\(round)@example.org", locale: .vi, scope: try Actor.parse("unit:N1"), logger: testLogger)
                    let outcomes = await withTaskGroup(of: String?.self) { group in
                        for attempt in 0..<4 {
                            group.addTask {
                                do {
                                    _ = try await store.setPassword(secret: made.invitation, purpose: .invitation, password: "mật khẩu số \(attempt)", logger: testLogger)
                                    return "mật khẩu số \(attempt)"
                                } catch {
                                    #expect(error as? AccountStore.LinkError == .invalid, "\(error)")
                                    return nil
                                }
                            }
                        }
                        return await group.reduce(into: [String]()) { if let won = $1 { $0.append(won) } }
                    }
                    #expect(outcomes.count == 1, "round \(round): \(outcomes)")
                    // The password that won is the one kept.
                    let won = try #require(outcomes.first)
                    _ = try await store.signIn(email: "lan\(round)@example.org", password: won, address: "10.0.0.\(round)", logger: testLogger)
                }
                #expect(try await TestPostgres.scalar(database, "SELECT count(*) FROM escalated.account_links WHERE used_at IS NULL") == 0)
            }
        }

        @Test("sign-in: right and wrong passwords, no password yet, a disabled account, a password the policy refuses")
        func signIn() async throws {
            try await Self.withStore { store, database in
                let lan = try await Self.account(store)
                let (session, secret) = try await store.signIn(email: " LAN@example.org ", password: Self.password, address: "10.0.0.1", logger: testLogger)
                #expect(session.account == lan)
                #expect(SecretText.isWellFormed(secret))
                // The password is compared in NFC: decomposed diacritics are the same password.
                _ = try await store.signIn(email: "lan@example.org", password: Self.password.decomposedStringWithCanonicalMapping, address: "10.0.0.1", logger: testLogger)
                for wrong in ["mật khẩu đủ dàI", "", String(repeating: "a", count: 100), Self.password + "\u{0}"] {
                    await #expect(throws: AccountStore.SignInError.invalidCredentials) {
                        try await store.signIn(email: "lan@example.org", password: wrong, address: "10.0.0.2", logger: testLogger)
                    }
                }
                let invited = try await store.create(name: "Minh", email: "minh@example.org", locale: .en, scope: try Actor.parse("agency:land-dept"), logger: testLogger)
                await #expect(throws: AccountStore.SignInError.invalidCredentials, "no password yet") {
                    try await store.signIn(email: "minh@example.org", password: "", address: "10.0.0.3", logger: testLogger)
                }
                #expect(try await store.disable(id: lan.id, logger: testLogger))
                await #expect(throws: AccountStore.SignInError.disabled) {
                    try await store.signIn(email: "lan@example.org", password: Self.password, address: "10.0.0.1", logger: testLogger)
                }
                // Policy: too long (73 bytes) and control characters are refused by name, not cut.
                for (bad, message) in [(String(repeating: "ệ", count: 25), "must be at most 72 bytes"), ("mười ký tự\tthêm", "must not contain control characters")] {
                    do {
                        _ = try await store.setPassword(secret: invited.invitation, purpose: .invitation, password: bad, logger: testLogger)
                        Issue.record("accepted \(bad)")
                    } catch let error as FieldError {
                        #expect(error.field == "password" && error.message.hasPrefix(message), "\(error)")
                    }
                }
                let hash = try await TestPostgres.strings(database, "SELECT password_hash FROM escalated.accounts WHERE id = \(lan.id)")
                #expect(hash.first?.hasPrefix("$2b$04$") == true, "bcrypt at the configured cost: \(hash)")
            }
        }

        @Test("the default bcrypt cost is used when none is configured")
        func defaultCost() async throws {
            #expect(AccountSettings().passwordCost == AccountSettings.defaultPasswordCost)
            #expect(try AccountSettings(environment: ["ESCALATED_BCRYPT_COST": "12"]).passwordCost == 12)
            #expect(throws: SettingsError.self) { try AccountSettings(environment: ["ESCALATED_BCRYPT_COST": "3"]) }
            let hash = try await PasswordHasher(cost: AccountSettings.defaultPasswordCost).hash(Self.password)
            #expect(hash.hasPrefix("$2b$\(AccountSettings.defaultPasswordCost)$"))
            #expect(try await PasswordHasher(cost: 4).verify(Self.password, hash: hash))
            #expect(try await !PasswordHasher(cost: 4).verify(Self.password, hash: nil))
        }

        @Test("an unknown email takes as long as a wrong password for a known one (a dummy hash is compared)")
        func unknownEmailTiming() async throws {
            var slow = Self.settings
            slow.passwordCost = 10
            slow.throttle = ThrottlePolicy(perAccount: 100, perAddress: 100)
            try await Self.withStore(slow) { store, _ in
                _ = try await Self.account(store)
                func fastest(_ email: String) async throws -> Duration {
                    var best = Duration.seconds(60)
                    for _ in 0..<3 {
                        let start = ContinuousClock.now
                        await #expect(throws: AccountStore.SignInError.invalidCredentials) {
                            try await store.signIn(email: email, password: "sai mật khẩu rồi", address: "10.0.0.9", logger: testLogger)
                        }
                        best = min(best, ContinuousClock.now - start)
                    }
                    return best
                }
                _ = try await fastest("warm-up@example.org")
                let known = try await fastest("lan@example.org")
                let unknown = try await fastest("nobody@example.org")
                #expect(unknown > known * 0.6 && unknown < known * 1.6, "known \(known), unknown \(unknown)")
            }
        }
    }
}
