import EscalationCore
import EscalationServer
import EscalationStore
import EscalationYAML
import Foundation
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// Weekly and monthly reports of supervisor groups: the directory's `report` and `report_at`,
    /// and one email per member and period across daemons and restarts.
    @Suite("Periodic reports")
    struct ReportSubscriptionTests {
        static let base = """
            people:
              - {code: p1, name: P, email: p1@example.org}
            areas: [{code: a1, name: A, member: p1}]
            units: [{code: u1, name: U, kind: commune, area: a1}]
            agencies: [{code: g1, name: G}]
            sectors: [{code: s1, name: {vi: S, en: S}, agency: g1}]
            calendars: [{code: c1, time_zone: Asia/Ho_Chi_Minh, hours: {mon: ["08:00-12:00"]}}]
            """

        static func refusal(_ text: String) -> String {
            do {
                _ = try DirectoryFile.parse(text, file: "r.yaml")
                return ""
            } catch {
                return error.problems.joined(separator: "\n")
            }
        }

        @Test("report and report_at are read, default to 08:00, and round-trip through the file, the database and the export")
        func roundTrip() async throws {
            let text = Self.base + """

                defaults: {calendar: c1}
                groups:
                  - {code: weekly, name: W, members: [p1], report: weekly, report_at: "17:30", digest_at: "07:00"}
                  - {code: monthly, name: M, members: [p1], report: monthly}
                  - {code: none, name: N, members: [p1]}
                """
            let directory = try DirectoryFile.parse(text, file: "r.yaml")
            #expect(directory.groups.map(\.report) == [.weekly, .monthly, nil])
            #expect(directory.groups.map(\.reportMinute) == [17 * 60 + 30, 8 * 60, nil])
            #expect(directory.groups[1].reportSchedule?.minute == 480)
            let rendered = DirectoryFile.render(directory)
            #expect(rendered.contains("    report: weekly\n    report_at: \"17:30\"\n"), "\(rendered)")
            #expect(rendered.contains("    report: monthly\n    report_at: \"08:00\"\n"), "\(rendered)")
            #expect(try DirectoryFile.parse(rendered, file: "rendered.yaml") == directory)

            let settings = try await TestPostgres.freshDatabase(directory: nil)
            try await TestPostgres.withClient(settings) { client in
                let store = DirectoryStore(client: client)
                _ = try await store.importDirectory(directory, logger: testLogger)
                let loaded = try await store.load(logger: testLogger)
                #expect(loaded.directory == directory)
                #expect(try DirectoryFile.parse(DirectoryFile.render(loaded.directory), file: "export.yaml") == directory)
            }
            #expect(try await TestPostgres.scalar(settings, """
                SELECT count(*) FROM escalated.supervisor_groups
                 WHERE (code, report_kind, report_minute) IN (('weekly', 'weekly', 1050), ('monthly', 'monthly', 480))
                """) == 2)
            #expect(try await TestPostgres.scalar(settings,
                "SELECT count(*) FROM escalated.supervisor_groups WHERE code = 'none' AND report_kind IS NULL AND report_minute IS NULL") == 1)
        }

        @Test("a bad report or report_at is refused with file:line, entry and field; report_at needs report; a report needs defaults.calendar")
        func problems() {
            let shapes = Self.base + """

                defaults: {calendar: c1}
                groups:
                  - {code: q1, name: Q1, members: [p1], report: daily}
                  - {code: q2, name: Q2, members: [p1], report: weekly, report_at: "8am"}
                  - {code: q3, name: Q3, members: [p1], report: [weekly]}
                """
            let found = Self.refusal(shapes)
            #expect(found.contains("r.yaml:10: groups[0] (q1): report: 'daily' is not one of weekly, monthly"), "\(found)")
            #expect(found.contains("r.yaml:11: groups[1] (q2): report_at: '8am' is not a time of day such as 08:00"), "\(found)")
            #expect(found.contains("r.yaml:12: groups[2] (q3): report: must be a single value"), "\(found)")

            let meanings = Self.base + """

                defaults: {calendar: c1}
                groups:
                  - {code: q1, name: Q1, members: [p1], report_at: "09:00"}
                  - {code: q2, name: Q2, members: [p1], report: monthly, report_at: "23:59"}
                """
            let meant = Self.refusal(meanings)
            #expect(meant.contains("r.yaml:10: groups[0] (q1): report_at: says when the periodic report goes out: give report: weekly or monthly too"),
                    "\(meant)")
            #expect(!meant.contains("groups[1]"), "\(meant)")

            let noCalendar = Self.base + """

                groups:
                  - {code: q1, name: Q1, members: [p1], report: weekly}
                """
            let local = Self.refusal(noCalendar)
            #expect(local.contains("r.yaml:9: groups[0] (q1): report: reports go out at local time and cover local weeks or months: name defaults.calendar"),
                    "\(local)")
        }

        @Test("a group subscribed weekly gets one report per member with an email across three daemons and a restart, with the last week's figures and the report page's link")
        func weeklyReport() async throws {
            let server = try SMTPServer()
            try await server.start()
            let settings = try await TestPostgres.freshDatabase()
            let env = ["ESCALATED_SMTP_URL": "smtp://127.0.0.1:\(server.port)", "ESCALATED_MAIL_FROM": "escalated@example.org",
                       "ESCALATED_PUBLIC_URL": "https://escalated.example.org"]
            var daemons = try (0..<3).map { _ in try DaemonProcess.serve(settings, environment: env) }
            try await InProcessDaemon.waitForListener(settings, count: 3)
            // 1-3 normal, 4-5 urgent (overdue 2 s after the report), 6 normal.
            try await TestPostgres.insertIssues(settings, count: 3)
            try await TestPostgres.insertFastIssues(settings, count: 2)
            try await TestPostgres.insertIssues(settings, count: 1)
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 6, timeout: .seconds(10))
            try await TestPostgres.withClient(settings) { client in
                let lifecycle = LifecycleStore(client: client, cache: RoutingTableCache())
                _ = try await lifecycle.perform(.acknowledge, issue: 1, actor: .admin, logger: testLogger)
                _ = try await lifecycle.perform(.resolve(resolution: "Xong"), issue: 1, actor: .admin, logger: testLogger)
                _ = try await lifecycle.perform(.acknowledge, issue: 2, actor: .admin, logger: testLogger)
            }
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.issues WHERE due_at < now()", equals: 2, timeout: .seconds(10))
            // Issues 1-5 were reported a week ago (in the last ISO week, whatever today is); 6 this week.
            try await TestPostgres.execute(settings, "UPDATE escalated.issues SET created_at = created_at - interval '7 days' WHERE id <= 5")

            // Weekly at 00:00 local time: last week's report is due as soon as the directory says so.
            var directory = TestDirectory.make()
            directory.groups[0].members = ["office", "m-south", "m-north"] // m-north has no email
            directory.groups[0].report = .weekly
            directory.groups[0].reportMinute = 0
            let subscribed = directory
            try await TestPostgres.withClient(settings) { _ = try await DirectoryStore(client: $0).importDirectory(subscribed, logger: testLogger) }
            let sentReports = "SELECT count(*) FROM escalated.outbox WHERE kind = 'report' AND state = 'sent'"
            try await TestPostgres.waitUntil(settings, sentReports, equals: 2, timeout: .seconds(20))
            // A restart does not make it again.
            daemons[0].signal(SIGTERM)
            #expect(try await daemons[0].waitForExit() == 0)
            daemons[0] = try DaemonProcess.serve(settings, environment: env)
            try await InProcessDaemon.waitForListener(settings, count: 3)
            try await Task.sleep(for: .seconds(1))
            for daemon in daemons { daemon.signal(SIGTERM) }
            for daemon in daemons { #expect(try await daemon.waitForExit() == 0) }

            let period = try #require(SubscriptionPeriod.due(kind: .weekly, at: Date(), timeZone: subscribed.timeZone, reportMinute: 0))
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.period_reports") == 1)
            #expect(try await TestPostgres.scalar(settings, """
                SELECT count(*) FROM escalated.period_reports
                 WHERE group_code = 'supervisors' AND kind = 'weekly' AND period_start = '\(period.start)' AND period_end = '\(period.end)'
                   AND figures = '{"received": 5, "acknowledged_on_time": 2, "resolved_on_time": 1, "overdue": 2}'::jsonb
                """) == 1)
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE kind = 'report'") == 2)

            let reports = server.messages.map(ReceivedMail.init).filter { $0.header("X-Escalated-Kind") == "report" }
            #expect(reports.count == 2)
            let link = "https://escalated.example.org/report?from=\(period.start)&to=\(period.end)"
            let vi = try #require(reports.first { $0.header("To") == "Văn phòng <office@example.org>" })
            #expect(vi.header("Subject") == "[escalated] Báo cáo tuần \(period.dayRange): 5 phản ánh, 2 quá hạn")
            let text = try #require(vi.part("text/plain"))
            for line in ["Báo cáo tuần \(period.dayRange) cho Giám sát.", "Phản ánh nhận được: 5", "Tiếp nhận đúng hạn: 2",
                         "Giải quyết đúng hạn: 1", "Còn quá hạn: 2", link] {
                #expect(text.contains(line), "\(line) in \(text)")
            }
            let en = try #require(reports.first { $0.header("To")?.contains("<m-south@example.org>") == true })
            #expect(en.header("Subject") == "[escalated] Weekly report \(period.dayRange): 5 reports, 2 overdue")
            #expect(en.part("text/plain")?.contains(link) == true)
        }
    }
}
