import EscalationCore
import EscalationStore
import Foundation
import PostgresNIO
import Testing

extension IntegrationTests {
    /// Lists in deadline order walk a bounded stretch of the deadline index before asking the whole
    /// query (IssueStore.duePage). Whatever the stretch, every page holds the same issues in the same
    /// order as one read of everything: checked here with a stretch of 4 against 2,000, for each
    /// kind of scope and filter, page by page through the cursors.
    @Suite("Lists: deadline order through a bounded stretch")
    struct ListPagingTests {
        @Test("a stretch of 4 and one of 2,000 page through the same issues in the same order, for every scope and filter")
        func stretchIsInvisible() async throws {
            let settings = try await TestPostgres.freshDatabase()
            // 90 issues written as routing and people would have left them (triggers off, as the
            // bench's seed): land-dept responsible for one in five, its deadlines among the latest,
            // so a short stretch of the deadline index often holds none of its issues; some without
            // a deadline (health has none), some closed; "nước" in every third title.
            let seed = """
                INSERT INTO escalated.issues (unit_code, sector_code, title, origin, state, version, route_revision, routed_at, due_at, acknowledge_due_at, resolve_due_at)
                SELECT CASE WHEN g % 3 = 0 THEN 'S1' WHEN g % 3 = 1 THEN 'N1' ELSE 'N2' END,
                       CASE WHEN g % 5 = 0 THEN 'land' WHEN g % 7 = 0 THEN 'health' ELSE 'roads' END,
                       CASE WHEN g % 3 = 0 THEN 'nước sạch ' || g ELSE 'đường ' || g END, 'sql',
                       CASE WHEN g % 11 = 0 THEN 'closed' WHEN g % 7 = 0 THEN 'routed' WHEN g % 2 = 0 THEN 'acknowledged' ELSE 'routed' END,
                       2, 1, now(),
                       CASE WHEN g % 11 = 0 OR (g % 7 = 0 AND g % 5 <> 0) THEN NULL
                            WHEN g % 5 = 0 THEN now() + (g * 13 % 90) * interval '1 hour'
                            ELSE now() + (g * 7 % 60 - 30) * interval '1 minute' END,
                       now(), now()
                  FROM generate_series(1, 90) g;
                INSERT INTO escalated.assignments (issue_id, target_kind, target_code, role, assigned_at)
                SELECT i.id, 'agency', CASE WHEN i.sector_code = 'land' THEN 'land-dept' WHEN i.sector_code = 'health' THEN 'health-dept' ELSE 'land-dept' END,
                       CASE WHEN i.sector_code = 'roads' AND i.id % 2 = 0 THEN 'watcher' ELSE 'agency' END, now()
                  FROM escalated.issues i
                UNION ALL
                SELECT i.id, 'person', CASE WHEN i.unit_code = 'S1' THEN 'm-south' ELSE 'm-north' END, 'member', now() FROM escalated.issues i;
                UPDATE escalated.issues i SET people = ARRAY(SELECT s.target_code FROM escalated.assignments s WHERE s.issue_id = i.id AND s.target_kind = 'person');
                """
            try await TestPostgres.withConnection(settings) { connection in
                try await connection.query("SET session_replication_role = replica", logger: testLogger)
                for statement in seed.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) where !statement.isEmpty {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger)
                }
            }
            try await TestPostgres.withClient(settings) { client in
                let short = IssueStore(client: client, dueStretch: 4)
                let long = IssueStore(client: client)
                let scopes: [Actor] = [Actor(kind: .agency, code: "land-dept"), Actor(kind: .agency, code: "health-dept"), Actor(kind: .member, code: "m-north"),
                                       Actor(kind: .unit, code: "N1"), Actor(kind: .supervisor, code: "office")]
                let filters: [(String, IssueFilter)] = [
                    ("inbox", IssueFilter(openOnly: true, sort: .due)),
                    ("words", IssueFilter(openOnly: true, words: "nước", sort: .due)),
                    ("sector and words", IssueFilter(sector: "land", openOnly: true, words: "nước", sort: .due)),
                    ("overdue", IssueFilter(openOnly: true, overdue: true, sort: .due)),
                    ("area", IssueFilter(area: "north", openOnly: true, sort: .due)),
                    ("agency filter", IssueFilter(agency: "land-dept", sort: .due)),
                    ("a state, overdue", IssueFilter(state: .routed, overdue: true, sort: .due)),
                    ("a state", IssueFilter(state: .acknowledged, sort: .due)),
                    ("everything", IssueFilter(sort: .due)),
                    ("everything, newest first", IssueFilter(sort: .newest)),
                    ("a closed state, newest first", IssueFilter(state: .closed, sort: .newest)),
                ]
                var nonEmpty = 0
                for scope in scopes {
                    for (label, filter) in filters {
                        var whole = filter
                        whole.limit = IssueFilter.maximumLimit
                        let expected = try await long.list(whole, scope: scope, logger: testLogger)
                        #expect(expected.next == nil, "one page holds them all")
                        var paged: [Int64] = []
                        var page = filter
                        page.limit = 3
                        for _ in 0..<100 {
                            let got = try await short.list(page, scope: scope, logger: testLogger)
                            #expect(got.items.count <= 3)
                            paged += got.items.map(\.id)
                            guard let next = got.next else { break }
                            page.cursor = next
                        }
                        #expect(paged == expected.items.map(\.id), "\(scope) \(label): \(paged) != \(expected.items.map(\.id))")
                        if !paged.isEmpty { nonEmpty += 1 }
                    }
                }
                #expect(nonEmpty >= 25, "most combinations list something (\(nonEmpty) of \(scopes.count * filters.count))")
                // And the inbox is what its definition says, straight from the tables.
                let inbox = try await long.list(IssueFilter(openOnly: true, sort: .due, limit: 200), scope: Actor(kind: .agency, code: "land-dept"), logger: testLogger)
                let reference = try await TestPostgres.strings(settings, """
                    SELECT id::text FROM escalated.issues i
                     WHERE i.state IN ('routed', 'acknowledged', 'reopened', 'unroutable')
                       AND EXISTS (SELECT 1 FROM escalated.assignments a WHERE a.issue_id = i.id AND a.target_kind = 'agency' AND a.target_code = 'land-dept' AND a.role = 'agency')
                     ORDER BY i.due_at IS NULL, i.due_at, i.id
                    """)
                #expect(inbox.items.map { String($0.id) } == reference)
                #expect(reference.count > 10)
            }
        }
    }
}
