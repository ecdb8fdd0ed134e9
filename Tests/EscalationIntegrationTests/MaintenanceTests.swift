import EscalationServer
import EscalationStore
import Foundation
import Testing

extension IntegrationTests {
    /// Retention: the maintenance service deletes old rows of each kind and nothing else.
    @Suite("Maintenance")
    struct MaintenanceTests {
        /// A pass with the default ages, in batches of `batchSize`.
        static func pass(_ settings: DatabaseSettings, batchSize: Int = 1000) async throws -> [MaintenanceStore.Target: Int] {
            try await TestPostgres.withClient(settings) { client in
                var configuration = MaintenanceConfiguration()
                configuration.batchSize = batchSize
                configuration.pause = .milliseconds(1)
                return try await MaintenanceService(store: MaintenanceStore(client: client), configuration: configuration, logger: testLogger).runPass()
            }
        }

        /// The audit trail and everything still in use, as one line to compare before and after.
        static let kept = """
            SELECT format('issues %s events %s assignments %s escalations %s',
                (SELECT count(*) FROM escalated.issues), (SELECT count(*) FROM escalated.events),
                (SELECT count(*) FROM escalated.assignments), (SELECT count(*) FROM escalated.escalations))
            """

        /// Runs statements separated by `;` and a line end, one at a time.
        static func executeAll(_ settings: DatabaseSettings, _ script: String) async throws {
            for statement in script.components(separatedBy: ";\n") where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                try await TestPostgres.execute(settings, statement)
            }
        }

        /// Seeds rows of every kind, old and recent, each named by a label saying whether it must go.
        static func seed(_ settings: DatabaseSettings) async throws {
            try await TestPostgres.insertIssues(settings, count: 3)
            try await Self.executeAll(settings, """
                UPDATE escalated.events SET at = now() - interval '3 years';
                UPDATE escalated.issues SET created_at = now() - interval '3 years';
                INSERT INTO escalated.assignments (issue_id, target_kind, target_code, role, assigned_at)
                SELECT id, 'agency', 'land-dept', 'agency', now() - interval '3 years' FROM escalated.issues;
                INSERT INTO escalated.escalations (issue_id, level, repeat, clock, due_at, fired_at, escalator, notified)
                SELECT id, 1, 0, 'acknowledge', now() - interval '3 years', now() - interval '3 years', 'test', '[]' FROM escalated.issues;
                INSERT INTO escalated.outbox (issue_id, kind, recipient_kind, recipient_code, channel, state, created_at, next_attempt_at, sent_at, last_answer)
                VALUES (1, 'routed', 'agency', 'land-dept', 'email', 'sent', now() - interval '100 days', now() - interval '100 days', now() - interval '91 days', 'go'),
                       (1, 'routed', 'agency', 'land-dept', 'email', 'sent', now() - interval '100 days', now() - interval '100 days', now() - interval '89 days', 'stay: sent 89 days ago'),
                       (2, 'routed', 'agency', 'land-dept', 'email', 'sent', now(), now(), now(), 'stay: sent now'),
                       (2, 'routed', 'agency', 'land-dept', 'email', 'pending', now() - interval '2 years', now() - interval '2 years', NULL, 'stay: pending'),
                       (3, 'routed', 'agency', 'land-dept', 'email', 'dead', now() - interval '400 days', now() - interval '366 days', NULL, 'go'),
                       (3, 'routed', 'agency', 'land-dept', 'email', 'dead', now() - interval '400 days', now() - interval '100 days', NULL, 'stay: tried 100 days ago');
                INSERT INTO escalated.tokens (actor_kind, actor_code, name, secret_hash, created_at, expires_at, revoked_at)
                VALUES ('unit', 'N1', 'go: expired', sha256('a'), now() - interval '1 year', now() - interval '31 days', NULL),
                       ('unit', 'N1', 'go: revoked', sha256('b'), now() - interval '1 year', NULL, now() - interval '31 days'),
                       ('unit', 'N1', 'stay: expired lately', sha256('c'), now() - interval '1 year', now() - interval '29 days', NULL),
                       ('unit', 'N1', 'stay: revoked lately', sha256('d'), now() - interval '1 year', now() + interval '1 year', now() - interval '1 day'),
                       ('admin', NULL, 'stay: old and live', sha256('e'), now() - interval '5 years', NULL, NULL);
                INSERT INTO escalated.accounts (name, email, scope_kind, scope_code) VALUES ('Lan', 'lan@example.org', 'unit', 'N1');
                INSERT INTO escalated.account_links (account_id, purpose, secret_hash, created_at, expires_at, used_at)
                VALUES (1, 'invitation', sha256('l1'), now() - interval '60 days', now() - interval '53 days', now() - interval '59 days'),
                       (1, 'reset', sha256('l2'), now() - interval '40 days', now() - interval '31 days', NULL),
                       (1, 'reset', sha256('l3'), now() - interval '29 days', now() - interval '29 days', NULL),
                       (1, 'invitation', sha256('l4'), now() - interval '1 day', now() + interval '6 days', NULL);
                INSERT INTO escalated.digests (group_code, day, scheduled, report, created_by, created_at)
                VALUES ('supervisors', current_date - 200, true, '{"label": "go"}', 'test', now() - interval '200 days'),
                       ('supervisors', current_date - 150, true, '{"label": "go"}', 'test', now() - interval '150 days'),
                       ('supervisors', current_date - 150, false, '{"label": "go"}', 'test', now() - interval '150 days'),
                       ('supervisors', current_date - 10, true, '{"label": "stay: recent"}', 'test', now() - interval '10 days'),
                       ('quiet', current_date - 300, true, '{"label": "stay: latest of its group"}', 'test', now() - interval '300 days');
                """)
        }

        @Test("the retention settings: defaults, days, `off`, and one sentence for a bad value")
        func settings() throws {
            let database = try DatabaseSettings(url: "postgres://localhost/escalated")
            let defaults = try DaemonConfiguration(database: database, environment: [:]).maintenance
            #expect(defaults.interval == .seconds(600))
            #expect(defaults.retention == RetentionPolicy())
            #expect(defaults.retention.sentDeliveries == .seconds(90 * 86_400))
            let set = try DaemonConfiguration(database: database, environment: [
                "ESCALATED_MAINTENANCE_INTERVAL": "30s", "ESCALATED_RETAIN_DELIVERIES": "7d", "ESCALATED_RETAIN_DEAD_DELIVERIES": "30d",
                "ESCALATED_RETAIN_TOKENS": "1d", "ESCALATED_RETAIN_DIGESTS": "400d",
            ]).maintenance
            #expect(set.interval == .seconds(30))
            #expect([set.retention.sentDeliveries, set.retention.deadDeliveries, set.retention.tokens, set.retention.digests]
                    == [7, 30, 1, 400].map { .seconds($0 * 86_400) })
            for off in ["0", "off"] {
                #expect(try DaemonConfiguration(database: database, environment: ["ESCALATED_MAINTENANCE_INTERVAL": off]).maintenance.interval == nil)
            }
            for bad in ["90", "0d", "-1d", "2w", "90 d"] {
                let error = #expect(throws: SettingsError.self) {
                    try DaemonConfiguration(database: database, environment: ["ESCALATED_RETAIN_TOKENS": bad])
                }
                #expect(error?.message == "ESCALATED_RETAIN_TOKENS must be a number of days such as 90d, at least 1d (got '\(bad)')")
            }
        }

        @Test("one pass deletes exactly the old sent and dead deliveries, spent tokens and links, old digests; history, pending and recent rows stay")
        func deletesOnlyWhatIsOld() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await Self.seed(settings)
            let before = try await TestPostgres.strings(settings, Self.kept)
            let removed = try await Self.pass(settings)
            #expect(removed == [.sentDeliveries: 1, .deadDeliveries: 1, .tokens: 2, .accountLinks: 2, .digests: 3])
            #expect(try await TestPostgres.strings(settings, Self.kept) == before)
            #expect(before == ["issues 3 events 3 assignments 3 escalations 3"])
            let left = try await TestPostgres.strings(settings, """
                SELECT label FROM (
                    SELECT last_answer AS label FROM escalated.outbox
                    UNION ALL SELECT name FROM escalated.tokens
                    UNION ALL SELECT CASE WHEN used_at IS NOT NULL OR expires_at < now() - interval '30 days' THEN 'go' ELSE 'stay' END
                                FROM escalated.account_links
                    UNION ALL SELECT report->>'label' FROM escalated.digests) t
                """)
            #expect(left.count == 11)
            #expect(left.allSatisfy { $0.hasPrefix("stay") }, "\(left)")
            // A second pass finds nothing more.
            #expect(try await Self.pass(settings) == [:])
        }

        @Test("two passes at once (two pools, batches of 100) remove each old row once and neither fails")
        func concurrentPasses() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await Self.executeAll(settings, """
                INSERT INTO escalated.outbox (issue_id, kind, recipient_kind, recipient_code, channel, state, created_at, sent_at)
                SELECT g, 'routed', 'agency', 'land-dept', 'email', 'sent', now() - interval '1 year', now() - interval '1 year' + g * interval '1 second'
                  FROM generate_series(1, 5000) g;
                INSERT INTO escalated.outbox (issue_id, kind, recipient_kind, recipient_code, channel, state, sent_at)
                SELECT g, 'routed', 'agency', 'land-dept', 'email', 'sent', now() FROM generate_series(1, 100) g;
                """)
            let results = try await withThrowingTaskGroup(of: [MaintenanceStore.Target: Int].self) { group in
                for _ in 0..<2 { group.addTask { try await Self.pass(settings, batchSize: 100) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.map { $0[.sentDeliveries] ?? 0 }.reduce(0, +) == 5000)
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox") == 100)
        }

        @Test("after old sent deliveries are deleted, a restarted daemon sends none of them again and sends new work once")
        func noResendAfterDeletion() async throws {
            let server = try SMTPServer()
            try await server.start()
            let settings = try await TestPostgres.freshDatabase()
            let first = try await DaemonProcess.serving(settings, smtp: server)
            try await TestPostgres.insertIssues(settings, count: 3)
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE state = 'sent'", equals: 3)
            #expect(try await first.terminate() == 0)
            #expect(server.messages.count == 3)

            // Three months pass: the sent rows are old enough to go.
            try await TestPostgres.execute(settings, "UPDATE escalated.outbox SET sent_at = sent_at - interval '91 days'")
            #expect(try await Self.pass(settings) == [.sentDeliveries: 3])

            let second = try await DaemonProcess.serving(settings, smtp: server)
            try await TestPostgres.insertIssues(settings, count: 1)
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE state = 'sent'", equals: 1)
            // Time for a routing sweep, an escalator look and a deliverer poll after the wake-up.
            try await Task.sleep(for: .seconds(3))
            #expect(try await second.terminate() == 0)
            let mails = server.messages.map(ReceivedMail.init)
            #expect(mails.count == 4)
            #expect(Set(mails.compactMap { $0.header("Message-ID") }).count == 4)
            #expect(Set(mails.compactMap { $0.header("Subject") }).count == 4, "one message per issue")
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox") == 1)
            #expect(try await TestPostgres.checkNothingHalfRouted(settings) == 4)
        }
    }
}
