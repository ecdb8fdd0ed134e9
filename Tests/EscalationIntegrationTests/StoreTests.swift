import EscalationCore
@testable import EscalationStore
import EscalationServer
import Foundation
import Testing

extension IntegrationTests {
    @Suite("Migrations and the directory")
    struct StoreTests {
        @Test("migrations apply once, are recorded with a checksum, and a changed applied file is an error")
        func migrations() async throws {
            let settings = try await TestPostgres.freshDatabase(migrate: false)
            let migrator = Migrator(migrations: try Migrator.bundled())
            try await TestPostgres.withClient(settings) { client in
                let before = try await migrator.status(client: client, logger: testLogger)
                #expect(before.pending.map(\.version) == [1])
                #expect(before.problem?.contains("lacks migration 1 (init)") == true)
                #expect(try await migrator.migrate(client: client, logger: testLogger) == [1])
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
            #expect(applied == [1])
        }

        @Test("`serve` refuses to start on a database that lacks a migration, and says which")
        func serveRefusesOldSchema() async throws {
            let settings = try await TestPostgres.freshDatabase(migrate: false)
            let daemon = try DaemonProcess.serve(settings)
            let status = try await daemon.waitForExit()
            #expect(status == 2)
            #expect(daemon.log.contains("the database lacks migration 1 (init)"), "\(daemon.log)")
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
