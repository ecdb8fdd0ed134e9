import EscalationCore
@testable import EscalationStore
import EscalationServer
import EscalationYAML
import Foundation
import PostgresNIO
import Testing

extension IntegrationTests {
    @Suite("Migrations and the directory")
    struct StoreTests {
        @Test("migrations apply once, are recorded with a checksum, and a changed applied file is an error")
        func migrations() async throws {
            let settings = try await TestPostgres.freshDatabase(migrate: false)
            let migrator = Migrator(migrations: try Migrator.bundled())
            let versions = try Migrator.bundled().map(\.version)
            #expect(versions == Array(1...versions.count), "numbered from 1 without gaps")
            try await TestPostgres.withClient(settings) { client in
                let before = try await migrator.status(client: client, logger: testLogger)
                #expect(before.pending.map(\.version) == versions)
                #expect(before.problem?.contains("lacks migration 1 (init)") == true)
                #expect(try await migrator.migrate(client: client, logger: testLogger) == versions)
                #expect(try await migrator.migrate(client: client, logger: testLogger) == [])
                #expect(try await migrator.status(client: client, logger: testLogger).isCurrent)
            }
            try await TestPostgres.execute(settings, "UPDATE escalated.schema_migrations SET checksum = 'edited' WHERE version = 1")
            try await TestPostgres.withClient(settings) { client in
                let status = try await migrator.status(client: client, logger: testLogger)
                #expect(status.problem == "migration 1 (init) was changed after it was applied; restore the original file")
                await #expect(throws: SettingsError.self) { try await migrator.migrate(client: client, logger: testLogger) }
            }
        }

        @Test("replicas migrating at once apply each migration once")
        func concurrentMigrate() async throws {
            let settings = try await TestPostgres.freshDatabase(migrate: false)
            let migrator = Migrator(migrations: try Migrator.bundled())
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask { try await TestPostgres.withClient(settings) { try await migrator.migrate(client: $0, logger: testLogger) } }
                }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(applied.sorted() == (try Migrator.bundled()).map(\.version))
        }

        @Test("later migrations upgrade a database in use: deadlines in minutes become seconds, issues keep their state")
        func upgradeFromOne() async throws {
            let settings = try await TestPostgres.freshDatabase(migrate: false)
            let all = try Migrator.bundled()
            let first = try await TestPostgres.withClient(settings) { client in
                try await Migrator(migrations: [all[0]]).migrate(client: client, logger: testLogger)
            }
            #expect(first == [1])
            for statement in [
                "INSERT INTO escalated.people (ord, code, name) VALUES (0, 'p', 'P')",
                "INSERT INTO escalated.areas (ord, code, name, member_code) VALUES (0, 'a', 'A', 'p')",
                "INSERT INTO escalated.units (ord, code, name, kind, area_code) VALUES (0, 'U', 'U', 'commune', 'a')",
                "INSERT INTO escalated.agencies (ord, code, name) VALUES (0, 'g', 'G')",
                """
                INSERT INTO escalated.sectors (ord, code, name_vi, name_en, agency_code, normal_ack_minutes, normal_resolve_minutes)
                     VALUES (0, 's', 'S', 'S', 'g', 240, 2400)
                """,
                "INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('U', 's', 'old')",
            ] {
                try await TestPostgres.execute(settings, statement)
            }
            let (second, directory) = try await TestPostgres.withClient(settings) { client in
                (try await Migrator(migrations: all).migrate(client: client, logger: testLogger),
                 try await DirectoryStore(client: client).load(logger: testLogger).directory)
            }
            #expect(second == all.dropFirst().map(\.version))
            #expect(directory.sectors.first?.normal == Deadlines(acknowledgeSeconds: 4 * 3600, resolveSeconds: 40 * 3600))
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues WHERE state = 'reported' AND escalation_level = 0") == 1)
        }

        @Test("`serve` refuses to start on a database that lacks a migration, and says which")
        func serveRefusesOldSchema() async throws {
            let settings = try await TestPostgres.freshDatabase(migrate: false)
            let daemon = try DaemonProcess.serve(settings)
            let status = try await daemon.waitForExit()
            #expect(status == 2)
            #expect(daemon.log.contains("the database lacks migration 1 (init)"), "\(daemon.log)")
        }

        @Test("`serve` (with or without --migrate) refuses a schema newer than it knows, in one sentence, exit 2, and changes nothing")
        func serveRefusesNewerSchema() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let newer = (try Migrator.bundled().map(\.version).max() ?? 0) + 1
            try await TestPostgres.execute(settings, """
                INSERT INTO escalated.schema_migrations (version, name, checksum) VALUES (\(newer), 'from_the_future', 'x')
                """)
            let sentence = "the database has migration \(newer), which this build of escalated does not know; run a newer escalated"
            for arguments in [[], ["--migrate"]] {
                let daemon = try DaemonProcess.serve(settings, arguments: arguments)
                #expect(try await daemon.waitForExit() == 2, "\(arguments)")
                let lines = daemon.log.split(separator: "\n").filter { $0.contains("escalated does not know") }
                #expect(lines.count == 1 && lines[0].hasSuffix(sentence), "\(arguments): \(daemon.log)")
            }
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.schema_migrations") == Int64(newer))
        }

        @Test("import is validated, idempotent, and export imports back to the same state")
        func importExport() async throws {
            let settings = try await TestPostgres.freshDatabase(directory: nil)
            let sample = try SampleDirectory.load()
            #expect(sample.units.count == 48)
            try await TestPostgres.withClient(settings) { client in
                let store = DirectoryStore(client: client)
                let first = try await store.importDirectory(sample, logger: testLogger)
                #expect(first == .init(changed: true, revision: 1))
                #expect(try await store.importDirectory(sample, logger: testLogger) == .init(changed: false, revision: 1))
                let loaded = try await store.load(logger: testLogger)
                #expect(loaded.directory == sample)
                let exported = DirectoryFile.render(loaded.directory)
                #expect(try DirectoryFile.parse(exported, file: "export.yaml") == sample)
                var changed = sample
                changed.units.removeLast()
                changed.rules.removeAll()
                #expect(try await store.importDirectory(changed, logger: testLogger) == .init(changed: true, revision: 2))
                #expect(try await store.load(logger: testLogger).directory == changed)
                // An invalid directory changes nothing.
                var broken = changed
                broken.units[0].area = "atlantis"
                await #expect(throws: DirectoryValidationError.self) { try await store.importDirectory(broken, logger: testLogger) }
                #expect(try await store.load(logger: testLogger) == (2, changed))
            }
        }

        @Test("a bad directory file names the file, the line, the entry and the field of every problem")
        func fileErrors() throws {
            let text = """
                people:
                  - code: p1
                    name: P
                areas:
                  - code: a1
                    name: A
                    member: p1
                    colour: red
                units:
                  - code: u1
                    name: U
                    kind: hamlet
                    area: a1
                  - code: u2
                    name: U2
                    kind: ward
                    area: nowhere
                agencies: []
                sectors:
                  - code: s1
                    name: {vi: S, en: S}
                    agency: a1
                    deadlines:
                      normal: {acknowledge: soon, resolve: 4h}
                """
            do {
                _ = try DirectoryFile.parse(text, file: "bad.yaml")
                Issue.record("expected the file to be refused")
            } catch {
                let problems = error.problems.joined(separator: "\n")
                #expect(problems.contains("bad.yaml:8: areas[0] (a1): colour: unknown field"), "\(problems)")
                #expect(problems.contains("bad.yaml:12: units[0] (u1): kind: 'hamlet' is not one of commune, ward"), "\(problems)")
                #expect(problems.contains("bad.yaml:24: sectors[0] (s1): deadlines.normal.acknowledge: 'soon' is not a duration"), "\(problems)")
            }
            // Shape is fine, meaning is not: references are checked and located.
            let semantic = text.replacingOccurrences(of: "    colour: red\n", with: "").replacingOccurrences(of: "kind: hamlet", with: "kind: commune")
                .replacingOccurrences(of: "acknowledge: soon", with: "acknowledge: 1h")
            do {
                _ = try DirectoryFile.parse(semantic, file: "bad.yaml")
                Issue.record("expected the file to be refused")
            } catch {
                let problems = error.problems.joined(separator: "\n")
                #expect(problems.contains("bad.yaml:13: units[1] (u2): area: unknown area 'nowhere'"), "\(problems)")
                #expect(problems.contains("bad.yaml:19: sectors[0] (s1): agency: unknown agency 'a1'"), "\(problems)")
            }
        }

        @Test("bad calendars, groups and chains in a directory file are refused with file:line, entry and field")
        func escalationFileErrors() throws {
            let base = """
                people:
                  - {code: p1, name: P}
                areas: [{code: a1, name: A, member: p1}]
                units: [{code: u1, name: U, kind: commune, area: a1}]
                agencies: [{code: g1, name: G}]
                sectors: [{code: s1, name: {vi: S, en: S}, agency: g1}]
                """
            let shapes = base + """

                calendars:
                  - code: c1
                    time_zone: Asia/Ho_Chi_Minh
                    hours:
                      mon: ["07:30-11:30", "7:30-17:00"]
                      sunday: ["08:00-12:00"]
                    holidays: ["2025-02-30"]
                chains:
                  - code: ch1
                    name: C
                    levels:
                      - notify: [agency, boss]
                        repeat: {every: often, times: 2}
                """
            do {
                _ = try DirectoryFile.parse(shapes, file: "esc.yaml")
                Issue.record("expected the file to be refused")
            } catch {
                let problems = error.problems.joined(separator: "\n")
                #expect(problems.contains("esc.yaml:11: calendars[0] (c1): hours.mon: '7:30-17:00' is not a span of hours such as 07:30-11:30"), "\(problems)")
                #expect(problems.contains("esc.yaml:12: calendars[0] (c1): hours: sunday: unknown field"), "\(problems)")
                #expect(problems.contains("esc.yaml:13: calendars[0] (c1): holidays: '2025-02-30' is not a date"), "\(problems)")
                #expect(problems.contains("esc.yaml:18: chains[0] (ch1): levels[0].notify: 'boss' is not agency, member, group:CODE or person:CODE"), "\(problems)")
                #expect(problems.contains("esc.yaml:19: chains[0] (ch1): levels[0].repeat.every: 'often' is not a duration"), "\(problems)")
            }
            let meanings = base + """

                defaults: {calendar: c1, chain: ch1}
                calendars:
                  - code: c1
                    time_zone: Asia/Lao_Cai
                    hours: {mon: ["08:00-12:00", "11:00-14:00"]}
                groups:
                  - {code: g1, name: G1, members: [p1], includes: [g2]}
                  - {code: g2, name: G2, includes: [g1]}
                chains:
                  - code: ch1
                    name: C
                    levels:
                      - notify: []
                """
            do {
                _ = try DirectoryFile.parse(meanings, file: "esc.yaml")
                Issue.record("expected the file to be refused")
            } catch {
                let problems = error.problems.joined(separator: "\n")
                #expect(problems.contains("esc.yaml:9: calendars[0] (c1): time_zone: 'Asia/Lao_Cai' is not an IANA time zone"), "\(problems)")
                #expect(problems.contains("esc.yaml:13: groups[0] (g1): includes: includes itself through a cycle of groups"), "\(problems)")
                #expect(problems.contains("esc.yaml:16: chains[0] (ch1): levels[0].notify: a level must notify someone"), "\(problems)")
            }
            // The shipped sample, with its calendar, group and chain, reads back to itself.
            let sample = try SampleDirectory.load()
            #expect(!sample.calendars.isEmpty && !sample.chains.isEmpty && !sample.groups.isEmpty)
            #expect(try DirectoryFile.parse(DirectoryFile.render(sample), file: "rendered.yaml") == sample)
        }

        @Test("the inbox lists running deadlines first, then open issues without one, each once, at every page size and scope")
        func inboxOrder() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings) { _ in
                try await TestPostgres.insertIssues(settings, count: 6, unit: "N1", sector: "land")   // deadlines
                try await TestPostgres.insertIssues(settings, count: 3, unit: "S1", sector: "land")
                try await TestPostgres.insertIssues(settings, count: 4, unit: "N2", sector: "health") // no deadlines
                try await TestPostgres.execute(settings, "INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('NEW-9', 'land', 'unroutable')")
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.issues WHERE state IN ('routed', 'unroutable')", equals: 14, timeout: .seconds(10))
            }
            // Deadlines spread on both sides of now, some equal (ties go by id); one issue resolved, one closed.
            for statement in ["UPDATE escalated.issues SET due_at = now() + ((id % 4) - 2) * interval '1 hour' WHERE due_at IS NOT NULL",
                              "UPDATE escalated.issues SET state = 'resolved', due_at = NULL WHERE id = 2",
                              "UPDATE escalated.issues SET state = 'closed', due_at = NULL WHERE id = 11",
                              "ANALYZE escalated.issues"] {
                try await TestPostgres.execute(settings, statement)
            }
            for scopeText in ["admin", "agency:land-dept", "agency:health-dept", "member:m-north", "unit:S1"] {
                let scope = try Actor.parse(scopeText)
                // What one ORDER BY over every open issue in scope gives.
                var binds = PostgresBindings()
                let condition = ScopeSQL.condition(scope, binds: &binds, responsible: true)
                let scopeBinds = binds
                let expected = try await TestPostgres.withClient(settings) { client in
                    var ids: [Int64] = []
                    let sql = """
                        SELECT i.id FROM escalated.issues i WHERE \(condition) AND i.state IN ('routed', 'acknowledged', 'reopened', 'unroutable')
                         ORDER BY coalesce(i.due_at, 'infinity'::timestamptz), i.id
                        """
                    for try await id in try await client.query(PostgresQuery(unsafeSQL: sql, binds: scopeBinds), logger: testLogger).decode(Int64.self) { ids.append(id) }
                    return ids
                }
                #expect(!expected.isEmpty, "\(scopeText)")
                for size in [1, 2, 3, 5, 50] {
                    for overdue in [false, true] {
                        var seen: [Int64] = []
                        var cursor: IssueCursor?
                        repeat {
                            let filter = IssueFilter(openOnly: true, overdue: overdue, sort: .due, cursor: cursor, limit: size)
                            let page = try await TestPostgres.withClient(settings) { client in
                                try await IssueStore(client: client).list(filter, scope: scope, logger: testLogger)
                            }
                            #expect(page.items.count <= size)
                            seen += page.items.map(\.id)
                            cursor = page.next
                        } while cursor != nil && seen.count < 100
                        let overdueIDs = try await TestPostgres.strings(settings, "SELECT id::text FROM escalated.issues WHERE due_at < now()").compactMap { Int64($0) }
                        let want = overdue ? expected.filter { overdueIDs.contains($0) } : expected
                        #expect(seen == want, "\(scopeText), pages of \(size), overdue \(overdue)")
                    }
                }
            }
        }

        @Test("the SQL splitter keeps dollar quotes, strings and comments whole")
        func sqlSplitter() {
            let script = """
                -- a comment; with a semicolon
                CREATE TABLE t (a text DEFAULT 'x;y''z');
                /* block; /* nested; */ still comment */
                CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$
                BEGIN RETURN 1; END
                $body$;
                SELECT $1, "we;ird";

                """
            let statements = SQLScript.statements(script)
            #expect(statements.count == 3)
            #expect(statements[0].hasSuffix("CREATE TABLE t (a text DEFAULT 'x;y''z')"))
            #expect(statements[1].contains("BEGIN RETURN 1; END"))
            #expect(statements[2] == #"SELECT $1, "we;ird""#)
            #expect(SQLScript.statements("-- only a comment\n").isEmpty)
        }
    }
}
