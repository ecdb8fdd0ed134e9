import EscalationStore
import Foundation
import PostgresCluster
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// The backup procedure of the README (Operations → Backups), run for real.
    @Suite("Backup and restore")
    struct BackupRestoreTests {
        /// Runs a PostgreSQL client program (`pg_dump`, `pg_restore`) of `install` to its end; throws with its output on failure.
        static func run(_ install: PostgresInstall, _ program: String, _ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: install.binDirectory + "/" + program)
            process.arguments = arguments
            let output = NSTemporaryDirectory() + "escalated-\(program)-\(UInt32.random(in: 0...UInt32.max)).log"
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            defer { unlink(output) }
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw TestFailure("\(program) failed: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
            }
        }

        static func connection(_ settings: DatabaseSettings) -> [String] {
            ["-h", settings.host, "-p", "\(settings.port)", "-U", settings.username, "-d", settings.database]
        }

        static func messageIDs(_ server: SMTPServer) -> [String] {
            server.messages.map(ReceivedMail.init).compactMap { $0.header("Message-ID") }
        }

        /// What happened to the issues, as lines to compare: routings and escalation steps per issue.
        static let history = """
            SELECT format('issue %s routed %s steps %s', i.id,
                (SELECT count(*) FROM escalated.events e WHERE e.issue_id = i.id AND e.kind = 'routed'),
                (SELECT coalesce(string_agg(s.level || '.' || s.repeat, ',' ORDER BY s.level, s.repeat), '-') FROM escalated.escalations s WHERE s.issue_id = i.id))
              FROM escalated.issues i ORDER BY i.id
            """

        @Test("a pg_dump restored into a fresh cluster: the daemon routes nothing twice, fires no escalation twice, resends nothing, and handles new work once")
        func restoreIntoFreshCluster() async throws {
            let before = try SMTPServer()
            try await before.start()
            let settings = try await TestPostgres.freshDatabase()
            let daemon = try await DaemonProcess.serving(settings, smtp: before)
            // One urgent issue that climbs its whole chain (routed, agency, reminder, member,
            // supervisors: 5 emails in about 5 s), and two that are only routed.
            try await TestPostgres.insertIssues(settings, count: 1, unit: "S1", sector: "roads", severity: "urgent")
            try await TestPostgres.insertIssues(settings, count: 2)
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE state = 'sent'", equals: 7)
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.issues WHERE next_escalation_at IS NOT NULL AND severity = 'urgent'", equals: 0)
            let historyBefore = try await TestPostgres.strings(settings, Self.history)
            #expect(historyBefore == ["issue 1 routed 1 steps 1.0,1.1,2.0,3.0", "issue 2 routed 1 steps -", "issue 3 routed 1 steps -"])

            // The nightly backup, taken while the daemon runs (pg_dump reads one consistent snapshot).
            let install = try PostgresInstall.locate()
            let dump = NSTemporaryDirectory() + "escalated-backup-\(UInt32.random(in: 0...UInt32.max)).dump"
            defer { unlink(dump) }
            try Self.run(install, "pg_dump", ["-Fc", "-f", dump] + Self.connection(settings))
            #expect(try await daemon.terminate() == 0)
            let sentBefore = Set(Self.messageIDs(before))
            #expect(sentBefore.count == 7)

            // A new machine: a fresh cluster, an empty database, the dump restored into it.
            let folder = NSTemporaryDirectory() + "escalated-restore-\(UInt32.random(in: 0...UInt32.max))"
            let cluster = try PostgresCluster.start(dataDirectory: folder, settings: ["fsync": "off"], logger: testLogger)
            defer {
                cluster.stop()
                try? FileManager.default.removeItem(atPath: folder)
            }
            _ = try cluster.psql("CREATE DATABASE escalated")
            let restored = try DatabaseSettings(url: cluster.url(database: "escalated"))
            try Self.run(install, "pg_restore", ["--exit-on-error", "--no-owner"] + Self.connection(restored) + [dump])
            #expect(try await TestPostgres.strings(restored, Self.history) == historyBefore)

            let after = try SMTPServer()
            try await after.start()
            let second = try await DaemonProcess.serving(restored, smtp: after)
            // New work after the restore: proof that the listener, the router and the deliverer run.
            try await TestPostgres.insertIssues(restored, count: 1)
            try await TestPostgres.waitUntil(restored, "SELECT count(*) FROM escalated.outbox WHERE state = 'sent' AND issue_id = 4", equals: 1)
            // Time for the catch-up sweep, the escalator's look and a deliverer poll to do anything they would.
            try await Task.sleep(for: .seconds(4))
            #expect(try await second.terminate() == 0, "\(second.log)")

            let history = try await TestPostgres.strings(restored, Self.history)
            #expect(Array(history.prefix(3)) == historyBefore, "no issue routed again, no escalation step fired again")
            #expect(history.last == "issue 4 routed 1 steps -")
            let sentAfter = Self.messageIDs(after)
            #expect(sentAfter.count == 1, "only the new issue's message: \(sentAfter)")
            #expect(sentBefore.isDisjoint(with: sentAfter), "nothing sent before the dump was sent again")
            #expect(try await TestPostgres.scalar(restored, "SELECT count(*) FROM escalated.outbox") == 8)
            #expect(try await TestPostgres.scalar(restored, "SELECT count(*) FROM escalated.outbox WHERE state <> 'sent'") == 0)
        }
    }
}
