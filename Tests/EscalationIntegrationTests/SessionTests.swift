import EscalationCore
@testable import EscalationStore
import Foundation
import PostgresNIO
import Testing

extension IntegrationTests {
    /// Sign-in throttling and sessions against the real store.
    @Suite("Accounts: throttling and sessions")
    struct SessionTests {
        typealias Accounts = AccountTests

        func wrong(_ store: AccountStore, _ email: String = "lan@example.org", address: String) async throws -> AccountStore.SignInError? {
            do {
                _ = try await store.signIn(email: email, password: "không phải mật khẩu", address: address, logger: testLogger)
                return nil
            } catch let error as AccountStore.SignInError {
                return error
            }
        }

        @Test("five failures for one email throttle it (known or not) until the oldest leaves the window; others are not held up")
        func perAccount() async throws {
            try await Accounts.withStore { store, database in
                _ = try await Accounts.account(store)
                for round in 1...5 {
                    #expect(try await wrong(store, address: "10.0.0.\(round)") == .invalidCredentials)
                }
                let first = try #require(try await TestPostgres.strings(database, "SELECT extract(epoch FROM min(at))::text FROM escalated.sign_in_failures")
                    .first.flatMap(Double.init).map(Date.init(timeIntervalSince1970:)))
                guard case .throttled(let retryAt)? = try await wrong(store, address: "10.0.0.9") else {
                    Issue.record("the sixth attempt was not throttled")
                    return
                }
                #expect(abs(retryAt.timeIntervalSince(first) - 15 * 60) < 0.01, "retry at \(retryAt), first failure \(first)")
                // Even the right password waits; so does the same email in other letters.
                await #expect(throws: AccountStore.SignInError.throttled(retryAt: retryAt)) {
                    try await store.signIn(email: "LAN@example.org", password: Accounts.password, address: "10.0.0.9", logger: testLogger)
                }
                // An unknown email is throttled the same way, so a lockout tells nothing.
                for round in 1...5 { #expect(try await wrong(store, "nobody@example.org", address: "10.1.0.\(round)") == .invalidCredentials) }
                guard case .throttled? = try await wrong(store, "nobody@example.org", address: "10.1.0.9") else {
                    Issue.record("the unknown email was not throttled")
                    return
                }
                // When the failures age out of the window, sign-in works again and clears the count.
                try await TestPostgres.execute(database, "UPDATE escalated.sign_in_failures SET at = at - interval '15 minutes'")
                _ = try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "10.0.0.9", logger: testLogger)
                #expect(try await TestPostgres.scalar(database, "SELECT count(*) FROM escalated.sign_in_failures WHERE email_key = 'lan@example.org'") == 0)
                #expect(try await TestPostgres.scalar(database, "SELECT count(*) FROM escalated.sign_in_failures WHERE at < now() - interval '15 minutes'") == 0,
                        "old failures are deleted")
            }
        }

        @Test("twenty failures from one address throttle it for every email; another address still signs in")
        func perAddress() async throws {
            try await Accounts.withStore { store, _ in
                _ = try await Accounts.account(store)
                for round in 1...20 {
                    #expect(try await wrong(store, "guess\(round)@example.org", address: "192.0.2.7") == .invalidCredentials)
                }
                guard case .throttled? = try await wrong(store, "guess21@example.org", address: "192.0.2.7") else {
                    Issue.record("the address was not throttled")
                    return
                }
                await #expect(throws: AccountStore.SignInError.self) {
                    try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "192.0.2.7", logger: testLogger)
                }
                _ = try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "192.0.2.8", logger: testLogger)
            }
        }

        @Test("attempts made at the same time are held to the limit together")
        func concurrentAttempts() async throws {
            try await Accounts.withStore { store, _ in
                _ = try await Accounts.account(store)
                let outcomes = try await withThrowingTaskGroup(of: AccountStore.SignInError?.self) { group in
                    for round in 0..<12 { group.addTask { try await wrong(store, address: "10.2.0.\(round)") } }
                    return try await group.reduce(into: [AccountStore.SignInError?]()) { $0.append($1) }
                }
                #expect(outcomes.filter { $0 == .invalidCredentials }.count == 5, "\(outcomes)")
                #expect(outcomes.filter { if case .throttled? = $0 { true } else { false } }.count == 7, "\(outcomes)")
            }
        }

        @Test("a session is found by its cookie, touched at most once a minute, and ends when idle, too old, signed out or its account disabled")
        func sessions() async throws {
            try await Accounts.withStore { store, database in
                let lan = try await Accounts.account(store)
                let sessions = SessionStore(client: store.client)
                let (started, secret) = try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "10.0.0.1", logger: testLogger)
                let found = try #require(try await sessions.authenticate(secret, logger: testLogger))
                #expect(found.id == started.id && found.account == lan)
                #expect(try await sessions.authenticate(SecretText.make(), logger: testLogger) == nil)
                #expect(try await sessions.authenticate("not a session", logger: testLogger) == nil)
                // A new id at each sign-in.
                let (other, otherSecret) = try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "10.0.0.1", logger: testLogger)
                #expect(other.id != started.id && otherSecret != secret)

                // CSRF: derived from the session, the same on every read, different per session.
                #expect(found.csrfToken == started.csrfToken && found.csrfToken != other.csrfToken)
                #expect(found.verifyCSRF(found.csrfToken))
                #expect(!found.verifyCSRF(other.csrfToken) && !found.verifyCSRF("") && !found.verifyCSRF(secret))
                #expect(CSRFToken.verify(found.csrfToken, sessionSecret: secret))
                #expect(!CSRFToken.verify(found.csrfToken, sessionSecret: otherSecret))

                // Touched at most once a minute.
                let seen = "SELECT extract(epoch FROM now() - last_seen_at)::bigint FROM escalated.sessions WHERE id = \(started.id)"
                try await TestPostgres.execute(database, "UPDATE escalated.sessions SET last_seen_at = now() - interval '30 seconds' WHERE id = \(started.id)")
                _ = try await sessions.authenticate(secret, logger: testLogger)
                #expect(try await TestPostgres.scalar(database, seen) == 30, "not written within the minute")
                try await TestPostgres.execute(database, "UPDATE escalated.sessions SET last_seen_at = now() - interval '2 minutes' WHERE id = \(started.id)")
                _ = try await sessions.authenticate(secret, logger: testLogger)
                #expect(try await TestPostgres.scalar(database, seen) == 0, "written after a minute")

                // Idle for 8 hours: ended, and its row deleted.
                try await TestPostgres.execute(database, "UPDATE escalated.sessions SET last_seen_at = now() - interval '8 hours 1 second' WHERE id = \(started.id)")
                #expect(try await sessions.authenticate(secret, logger: testLogger) == nil)
                #expect(try await TestPostgres.scalar(database, "SELECT count(*) FROM escalated.sessions WHERE id = \(started.id)") == 0)
                // Seven days after sign-in, however busy: ended.
                try await TestPostgres.execute(database, "UPDATE escalated.sessions SET created_at = now() - interval '7 days 1 second' WHERE id = \(other.id)")
                #expect(try await sessions.authenticate(otherSecret, logger: testLogger) == nil)

                // Sign-out.
                let (_, third) = try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "10.0.0.1", logger: testLogger)
                #expect(try await sessions.signOut(third, logger: testLogger))
                #expect(try await !sessions.signOut(third, logger: testLogger))
                #expect(try await sessions.authenticate(third, logger: testLogger) == nil)

                // Disabling the account ends its sessions at once.
                let (_, fourth) = try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "10.0.0.1", logger: testLogger)
                #expect(try await sessions.authenticate(fourth, logger: testLogger) != nil)
                #expect(try await store.disable(id: lan.id, logger: testLogger))
                #expect(try await sessions.authenticate(fourth, logger: testLogger) == nil)
                #expect(try await TestPostgres.scalar(database, "SELECT count(*) FROM escalated.sessions") == 0)
                #expect(try await sessions.start(accountID: lan.id, address: nil, logger: testLogger) == nil, "no session for a disabled account")
            }
        }

        @Test("expired sessions are pruned; live ones stay")
        func prune() async throws {
            try await Accounts.withStore { store, database in
                _ = try await Accounts.account(store)
                let sessions = SessionStore(client: store.client)
                let (old, _) = try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "10.0.0.1", logger: testLogger)
                let (live, liveSecret) = try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "10.0.0.1", logger: testLogger)
                try await TestPostgres.execute(database, "UPDATE escalated.sessions SET last_seen_at = now() - interval '9 hours' WHERE id = \(old.id)")
                #expect(try await sessions.pruneExpired(logger: testLogger) == 1)
                #expect(try await sessions.authenticate(liveSecret, logger: testLogger)?.id == live.id)
            }
        }

        @Test("only hashes are stored: no link secret, session id, CSRF token or password appears in any table")
        func onlyHashes() async throws {
            try await Accounts.withStore { store, database in
                let made = try await store.create(name: "Lan", email: "lan@example.org", locale: .vi, scope: try Actor.parse("unit:N1"), logger: testLogger)
                _ = try await store.setPassword(secret: made.invitation, purpose: .invitation, password: Accounts.password, logger: testLogger)
                let (session, secret) = try await store.signIn(email: "lan@example.org", password: Accounts.password, address: "10.0.0.1", logger: testLogger)
                let reset = try #require(try await store.requestReset(email: "lan@example.org", logger: testLogger))
                _ = try await wrong(store, address: "10.0.0.2")
                var dump: [String] = []
                for table in ["accounts", "account_links", "sessions", "sign_in_failures"] {
                    dump += try await TestPostgres.strings(database, "SELECT row_to_json(t)::text FROM escalated.\(table) t")
                }
                let text = dump.joined(separator: "\n")
                for secretText in [made.invitation, reset.secret, secret, session.csrfToken, Accounts.password, "không phải mật khẩu"] {
                    #expect(!text.contains(secretText), "\(secretText) is stored")
                }
                // What is stored is the SHA-256 of each secret.
                for secretText in [made.invitation, reset.secret, secret] {
                    #expect(text.contains(TokenStore.hash(secretText)), "the hash of \(secretText) is not stored")
                }
            }
        }

        @Test("events can name the account that acted; existing writers leave it empty")
        func eventAttribution() async throws {
            try await Accounts.withStore { store, database in
                let lan = try await Accounts.account(store)
                try await TestPostgres.insertIssues(database, count: 1)
                #expect(try await TestPostgres.scalar(database, "SELECT count(*) FROM escalated.events WHERE account_id IS NULL AND account_name IS NULL") == 1)
                try await TestPostgres.execute(database, """
                    INSERT INTO escalated.events (issue_id, kind, actor, account_id, account_name)
                    SELECT id, 'commented', 'unit:N1', \(lan.id), 'Nguyễn Thị Lan' FROM escalated.issues
                    """)
                #expect(try await TestPostgres.scalar(database, "SELECT count(*) FROM escalated.events WHERE account_id = \(lan.id) AND account_name = 'Nguyễn Thị Lan'") == 1)
                // No foreign key (accounts are never deleted; see migration 006), but a name, when given, is 1 to 100 characters.
                await #expect(throws: PSQLError.self, "an empty account name is refused") {
                    try await TestPostgres.execute(database, "INSERT INTO escalated.events (issue_id, kind, actor, account_id, account_name) SELECT id, 'commented', 'unit:N1', \(lan.id), '' FROM escalated.issues")
                }
            }
        }
    }
}
