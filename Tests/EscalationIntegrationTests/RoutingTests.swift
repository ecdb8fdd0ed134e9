import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Testing

extension IntegrationTests {
    @Suite("Routing over LISTEN/NOTIFY")
    struct RoutingTests {
        @Test("rows INSERTed by another system are routed, each with its assignments and events")
        func sqlIntake() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings) { _ in
                try await TestPostgres.insertIssues(settings, count: 50)
                try await TestPostgres.execute(settings, """
                    INSERT INTO escalated.issues (unit_code, sector_code, title, description, severity)
                    VALUES ('S1', 'health', 'Thiếu thuốc', 'Trạm y tế hết thuốc hạ sốt', 'urgent')
                    """)
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 51, timeout: .seconds(10))
            }
            #expect(try await TestPostgres.checkNothingHalfRouted(settings) == 51)
            #expect(try await TestPostgres.strings(settings, """
                SELECT string_agg(a.role || ':' || a.target_code, ',' ORDER BY a.role) FROM escalated.assignments a
                  JOIN escalated.issues i ON i.id = a.issue_id WHERE i.unit_code = 'S1'
                """) == ["agency:health-dept,member:m-south"])
            #expect(try await TestPostgres.strings(settings, "SELECT DISTINCT actor FROM escalated.events WHERE kind = 'reported'") == ["sql"])
        }

        @Test("an issue for a unit the directory lacks is kept as unroutable, then routed once the directory is fixed")
        func unroutableUntilFixed() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings) { _ in
                try await TestPostgres.execute(settings, "INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('NEW-7', 'land', 'Xã mới chưa có trong danh bạ')")
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.issues WHERE state = 'unroutable'", equals: 1, timeout: .seconds(10))
                let reason = try await TestPostgres.strings(settings, "SELECT data->>'reason' FROM escalated.events WHERE kind = 'unroutable'")
                #expect(reason == ["unit 'NEW-7' is not in the directory"])
                let page = try await TestPostgres.withClient(settings) { client in
                    try await IssueStore(client: client).list(IssueFilter(state: .unroutable), logger: testLogger)
                }
                #expect(page.items.map(\.unit) == ["NEW-7"])

                let fixed = TestDirectory.make(extraUnits: [Unit(code: "NEW-7", name: "Xã mới", kind: .commune, area: "south")])
                _ = try await TestPostgres.withClient(settings) { client in
                    try await DirectoryStore(client: client).importDirectory(fixed, logger: testLogger)
                }
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 1, timeout: .seconds(10))
            }
            #expect(try await TestPostgres.strings(settings, "SELECT string_agg(kind, ',' ORDER BY id) FROM escalated.events")
                == ["reported,unroutable,routed"])
            #expect(try await TestPostgres.strings(settings, "SELECT target_code FROM escalated.assignments WHERE role = 'member'") == ["m-south"])
        }

        @Test("a routing rule imported while the daemon runs applies to the next issue, without a restart")
        func rulesChangeWithoutRestart() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings) { _ in
                try await TestPostgres.insertIssues(settings, count: 1)
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 1, timeout: .seconds(10))
                // The rule also names the other area's member, who then sees the issue as a person.
                let rule = RoutingRule(id: "north-land-to-health", priority: 1, match: RuleMatch(sector: "land", area: "north"),
                                       agency: "health-dept", notify: ["office", "m-south"])
                _ = try await TestPostgres.withClient(settings) { client in
                    try await DirectoryStore(client: client).importDirectory(TestDirectory.make(rules: [rule]), logger: testLogger)
                }
                try await TestPostgres.insertIssues(settings, count: 1)
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 2, timeout: .seconds(10))
            }
            #expect(try await TestPostgres.strings(settings, """
                SELECT string_agg(target_code || coalesce('@' || rule_id, ''), ',' ORDER BY role, target_code)
                  FROM escalated.assignments GROUP BY issue_id ORDER BY issue_id
                """) == ["land-dept,m-north", "health-dept@north-land-to-health,m-north,m-south@north-land-to-health,office@north-land-to-health"])
            // The persons on the issue row (what a member's scope reads), in code order, as the assignments say.
            #expect(try await TestPostgres.strings(settings, "SELECT array_to_string(people, ',') FROM escalated.issues ORDER BY id")
                == ["m-north", "m-north,m-south,office"])
            // The units each person has issues in (015, written by the routing statement beside the row's persons): each pair once.
            #expect(try await TestPostgres.strings(settings, """
                SELECT string_agg(person_code || ':' || unit_code, ',' ORDER BY person_code, unit_code) FROM escalated.person_units
                """) == ["m-north:N1,m-south:N1,office:N1"])
            // The rolling upgrade's remedy (README, migration 015): the pairs an older daemon did not
            // add come back when the migration's INSERT runs again; run once more, it adds nothing.
            try await TestPostgres.execute(settings, "DELETE FROM escalated.person_units WHERE person_code = 'm-south'")
            let migration = try #require(try Migrator.bundled().first { $0.version == 15 })
            let insert = try #require(migration.sql.range(of: "INSERT INTO escalated.person_units"))
            let end = try #require(migration.sql.range(of: "ON CONFLICT DO NOTHING;", range: insert.upperBound..<migration.sql.endIndex))
            for _ in 0..<2 { try await TestPostgres.execute(settings, String(migration.sql[insert.lowerBound..<end.upperBound])) }
            #expect(try await TestPostgres.strings(settings, """
                SELECT string_agg(person_code || ':' || unit_code, ',' ORDER BY person_code, unit_code) FROM escalated.person_units
                """) == ["m-north:N1,m-south:N1,office:N1"])
            try await TestPostgres.withClient(settings) { client in
                let store = IssueStore(client: client)
                let south = try await store.list(IssueFilter(sort: .oldest), scope: Actor(kind: .member, code: "m-south"), logger: testLogger)
                #expect(south.items.map(\.id) == [2], "the other area's member sees only the issue the rule gave them")
                let dashboard = try await DashboardStore(client: client).now(scope: Actor(kind: .member, code: "m-south"), logger: testLogger)
                #expect(dashboard.units.map(\.code) == ["N1"] && dashboard.units.map(\.open) == [1])
                let north = try await store.list(IssueFilter(sort: .oldest), scope: Actor(kind: .member, code: "m-north"), logger: testLogger)
                #expect(north.items.map(\.id) == [1, 2], "the area's member sees both, by the area")
                let northNow = try await DashboardStore(client: client).now(scope: Actor(kind: .member, code: "m-north"), logger: testLogger)
                #expect(northNow.units.map(\.open) == [2], "each once: by the area, not again as a person")
                // A period's reports too (read in two parts for a member: their area's units, and the units where they are a person elsewhere).
                let edges = [Date().addingTimeInterval(-3600), Date().addingTimeInterval(3600)]
                let reports = ReportStore(client: client), dashboards = DashboardStore(client: client)
                for (member, received, units) in [("m-south", 1, ["N1"]), ("m-north", 2, ["N1"])] {
                    let scope = Actor(kind: .member, code: member)
                    let summary = try await reports.summary(from: .instant(edges[0]), to: .instant(edges[1]), scope: scope, logger: testLogger)
                    #expect(summary.units.map(\.code) == units && summary.totals.received == received, "\(member)'s period: each report once")
                    let counts = try await reports.summary(from: .instant(edges[0]), to: .instant(edges[1]), scope: scope, detail: .counts, logger: testLogger)
                    #expect(counts.totals.received == received, "\(member)'s period, as a dashboard counts it")
                    let stepped = try await reports.summary(from: .instant(edges[0]), to: .instant(edges[1]), scope: scope, detail: .dashboard,
                                                            steps: edges, logger: testLogger)
                    #expect(stepped.receivedPerStep == [received] && stepped.totals.received == received, "\(member)'s series, counted with the dashboard's summary")
                    let steps = try await dashboards.stepCounts(edges: edges, scope: scope, logger: testLogger)
                    #expect(steps.resolved == [0] && steps.overdueAtEnd.count == 1, "\(member)'s series: nothing resolved yet")
                }
            }
        }

        @Test("two routers racing over 2,000 issues in bursts and 400 single-row reports route each exactly once, and both take part")
        func twoRoutersRace() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings, configure: { $0.router.batchSize = 25; $0.router.instanceName = "router-a" }) { _ in
                try await InProcessDaemon.with(settings, configure: { $0.router.batchSize = 25; $0.router.instanceName = "router-b" }) { _ in
                    try await InProcessDaemon.waitForListener(settings, count: 2)
                    for _ in 0..<20 {
                        try await TestPostgres.insertIssues(settings, count: 100)
                    }
                    try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 2000, timeout: .seconds(60))
                    // Single rows from 8 clients: every wake-up takes both routers' latency path at once.
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<8 {
                            group.addTask {
                                for _ in 0..<50 { try await TestPostgres.insertIssues(settings, count: 1, unit: "S1", sector: "health") }
                            }
                        }
                        try await group.waitForAll()
                    }
                    try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 2400, timeout: .seconds(60))
                }
            }
            #expect(try await TestPostgres.checkNothingHalfRouted(settings) == 2400)
            let byRouter = try await TestPostgres.strings(settings, """
                SELECT data->>'router' FROM escalated.events WHERE kind = 'routed' GROUP BY 1 ORDER BY 1
                """)
            #expect(byRouter == ["router-a", "router-b"])
        }

        @Test("with no notification at all, the poll fallback still routes (NOTIFY is only a hint)")
        func pollFallback() async throws {
            let settings = try await TestPostgres.freshDatabase()
            // Remove the trigger's NOTIFY by inserting through a session that cannot notify:
            // the row is committed, no wake-up is sent, and only the poll can find it.
            try await InProcessDaemon.with(settings, configure: { $0.router.pollInterval = .milliseconds(300) }) { _ in
                try await TestPostgres.execute(settings, """
                    ALTER TABLE escalated.issues DISABLE TRIGGER issues_after_insert;
                    """)
                try await TestPostgres.execute(settings, "INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('N1', 'land', 'silent')")
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 1, timeout: .seconds(10))
            }
        }
    }
}
