import AsyncHTTPClient
import EscalationCore
import EscalationServer
import EscalationStore
import EscalationTestSupport
import EscalationWeb
import Foundation
import NIOCore
import NIOHTTP1
import PostgresNIO
import Testing

extension IntegrationTests {
    /// The dashboard against the summary API and a recount: a seeded history of five weeks (issues
    /// received, acknowledged and resolved at known instants, some late, some still open), then the
    /// page's tables (as its CSV), `GET /v1/reports/summary` and a count made here from the raw
    /// rows (times in working hours computed here with the calendar) must agree, for a supervisor
    /// and for a member's area. Over real HTTP to the daemon.
    @Suite("Web: dashboards are exact")
    struct DashboardTests {
        typealias Browser = WebAccountEmailTests.Browser

        /// One seeded issue, as the recount reads it.
        struct Seeded {
            var id: Int64
            var unit: String
            var sector: String
            var agency: String?
            var created: Date
            var acknowledged: Date?
            var resolved: Date?
            var acknowledgeDue: Date?
            var resolveDue: Date?
            var state: String
        }

        static let units = ["N1": "north", "N2": "north", "S1": "south"]
        static let agencyOf = ["land": "land-dept", "health": "health-dept"]

        /// Seeds `count` issues over the last 35 days (a fixed seed: the same history every run).
        static func seed(_ settings: DatabaseSettings, count: Int, now: Date) async throws -> [Seeded] {
            let calendar = try TestDirectory.officeHours.compile()
            var generator = SeededGenerator(state: 20261202)
            var rows: [Seeded] = []
            try await TestPostgres.withConnection(settings) { connection in
                for index in 0..<count {
                    let unit = ["N1", "N2", "S1"][Int.random(in: 0..<3, using: &generator)]
                    let sector = index % 7 == 0 ? "health" : "land"
                    let created = now.addingTimeInterval(-Double.random(in: 3600...(35 * 86_400), using: &generator))
                    // Land has deadlines (4 h to acknowledge, 40 h to resolve, working time); health none.
                    let ackDue = sector == "land" ? calendar.due(from: created, seconds: 4 * 3600) : nil
                    let resolveDue = sector == "land" ? calendar.due(from: created, seconds: 40 * 3600) : nil
                    let roll = Int.random(in: 0..<100, using: &generator)
                    var acknowledged: Date? = created.addingTimeInterval(Double.random(in: 600...(30 * 3600), using: &generator))
                    var resolved: Date? = acknowledged!.addingTimeInterval(Double.random(in: 1800...(6 * 86_400), using: &generator))
                    var state = "closed"
                    if roll < 15 { acknowledged = nil; resolved = nil; state = "routed" } else if roll < 35 { resolved = nil; state = "acknowledged" } else if roll < 60 { state = "resolved" }
                    if let a = acknowledged, a > now { acknowledged = nil; resolved = nil; state = "routed" }
                    if let r = resolved, r > now { resolved = nil; state = "acknowledged" }
                    let unroutable = index % 31 == 5
                    if unroutable { acknowledged = nil; resolved = nil; state = "unroutable" }
                    let due: Date? = switch state {
                    case "routed": ackDue
                    case "acknowledged": resolveDue
                    default: nil
                    }
                    let ackWork = acknowledged.map { calendar.workingSeconds(from: created, to: $0) }
                    let resolveWork = resolved.map { calendar.workingSeconds(from: created, to: $0) }
                    let title = "Phản ánh số \(index)"
                    var id: Int64 = 0
                    for try await value in try await connection.query("""
                        INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES (\(unit), \(sector), \(title)) RETURNING id
                        """, logger: testLogger).decode(Int64.self) { id = value }
                    try await connection.query("""
                        UPDATE escalated.issues SET state = \(state), created_at = \(created), routed_at = \(created), acknowledged_at = \(acknowledged),
                               resolved_at = \(resolved), acknowledge_due_at = \(unroutable ? nil : ackDue), resolve_due_at = \(unroutable ? nil : resolveDue),
                               due_at = \(unroutable ? nil : due), acknowledge_work_seconds = \(ackWork), resolve_work_seconds = \(resolveWork)
                         WHERE id = \(id)
                        """, logger: testLogger)
                    var agency: String?
                    if !unroutable {
                        agency = agencyOf[sector]!
                        // As routing writes them: the assignments, and the agency on the issue row.
                        try await connection.query("""
                            INSERT INTO escalated.assignments (issue_id, target_kind, target_code, role) VALUES
                                (\(id), 'agency', \(agency!), 'agency'), (\(id), 'person', \(units[unit] == "north" ? "m-north" : "m-south"), 'member')
                            """, logger: testLogger)
                        try await connection.query("UPDATE escalated.issues SET agency_code = \(agency!), people = ARRAY[\(units[unit] == "north" ? "m-north" : "m-south")] WHERE id = \(id)", logger: testLogger)
                    }
                    rows.append(Seeded(id: id, unit: unit, sector: sector, agency: agency, created: created, acknowledged: acknowledged,
                                       resolved: resolved, acknowledgeDue: unroutable ? nil : ackDue, resolveDue: unroutable ? nil : resolveDue, state: state))
                }
            }
            return rows
        }

        /// percentile_cont, as PostgreSQL computes it.
        static func percentile(_ values: [Double], _ p: Double) -> Double? {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            let position = p * Double(sorted.count - 1)
            let lower = Int(position.rounded(.down)), upper = Int(position.rounded(.up))
            return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
        }

        /// The recount of one group of seeded issues, in the dashboard's CSV words.
        static func expectedLine(_ received: [Seeded], open: [Seeded], now: Date, wording: Wording, calendar: WorkingCalendar) -> [String] {
            let ackOnTime = received.filter { i in i.acknowledged.map { a in i.acknowledgeDue.map { a <= $0 } ?? false } ?? false }.count
            let resolvedOnTime = received.filter { i in i.resolved.map { r in i.resolveDue.map { r <= $0 } ?? false } ?? false }.count
            let overdue = open.filter { i in
                let due = i.state == "routed" ? i.acknowledgeDue : i.state == "acknowledged" ? i.resolveDue : nil
                return due.map { $0 < now } ?? false
            }.count
            func percent(_ n: Int) -> String { received.isEmpty ? "–" : "\(Int((Double(n) / Double(received.count) * 100).rounded()))%" }
            func duration(_ value: Double?) -> String { value.map { wording.duration(seconds: Int($0.rounded())) } ?? "–" }
            let ack = received.compactMap { i in i.acknowledged.map { Double(calendar.workingSeconds(from: i.created, to: $0)) } }
            let resolve = received.compactMap { i in i.resolved.map { Double(calendar.workingSeconds(from: i.created, to: $0)) } }
            return ["\(open.count)", "\(overdue)", "\(received.count)", percent(ackOnTime), percent(resolvedOnTime),
                    duration(percentile(ack, 0.5)), duration(percentile(ack, 0.9)), duration(percentile(resolve, 0.5)), duration(percentile(resolve, 0.9))]
        }

        static func parseCSV(_ text: String) -> [[String]] {
            var body = text
            if body.hasPrefix("\u{FEFF}") { body.removeFirst() }
            return body.split(separator: "\r\n").map { line in
                // The seeded names hold no comma or quote: a plain split is enough here.
                line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            }
        }

        @Test("the resolution-time buckets are width_bucket's: an edge starts its bucket; below the first, at or past the last")
        func resolveBuckets() {
            var summary = ReportStore.Summary(from: Date(), to: Date(), units: [], areas: [], agencies: [], sectors: [])
            summary.resolveWorkingTimes = [0, 99, 100, 101, 199, 200, 5000]
            #expect(summary.resolveWorkingCounts(edges: [100, 200]) == [2, 3, 2])
            #expect(summary.resolveWorkingCounts(edges: [1]) == [1, 6])
            summary.resolveWorkingTimes = []
            #expect(summary.resolveWorkingCounts(edges: [100, 200]) == [0, 0, 0])
        }

        @Test("page, CSV, API and a recount agree for a supervisor and a member; the lifecycle writes working time; bad periods and codes are 400 pages naming the field")
        func exact() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let now = Date()
            let seeded = try await Self.seed(settings, count: 260, now: now)
            try await TestPostgres.withClient(settings) { client in
                let store = AccountStore(client: client)
                for (name, email, scope) in [("Giám sát", "gs@example.org", Actor(kind: .supervisor, code: "office")),
                                             ("Ủy viên Bắc", "uv@example.org", Actor(kind: .member, code: "m-north"))] {
                    let made = try await store.create(name: name, email: email, locale: .vi, scope: scope, invite: false, logger: testLogger)
                    _ = try await store.setPassword(secret: made.invitation, purpose: .invitation, password: "một mật khẩu đủ dài", logger: testLogger)
                }
            }
            let calendar = try TestDirectory.officeHours.compile()
            let directory = TestDirectory.make()
            let wording = Wording(locale: .vi, directory: directory)
            var zoneCalendar = Calendar(identifier: .gregorian)
            zoneCalendar.timeZone = directory.timeZone
            let zone = zoneCalendar
            let todayParts = zoneCalendar.dateComponents([.year, .month, .day], from: now)
            let today = LocalDate(year: todayParts.year!, month: todayParts.month!, day: todayParts.day!)
            let first = today.adding(days: -35)
            let lo = zoneCalendar.date(from: DateComponents(year: first.year, month: first.month, day: first.day))!
            let hi = zoneCalendar.date(from: DateComponents(year: today.year, month: today.month, day: today.day))!.addingTimeInterval(86_400)
            let query = "period=custom&from=\(first)&to=\(today)"

            try await InProcessDaemon.with(settings, configure: { $0.web.accounts.passwordCost = 4 }) { port in
                let browser = Browser(port: port)
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                do {
                    try await steps(browser, http, port)
                } catch {
                    try await browser.close()
                    try await http.shutdown()
                    throw error
                }
                try await browser.close()
                try await http.shutdown()
            }

            @Sendable func steps(_ browser: Browser, _ http: HTTPClient, _ port: Int) async throws {
                func signIn(_ email: String) async throws {
                    browser.cookies = [:]
                    let form = try await browser.request("/sign-in")
                    let answer = try await browser.request("/sign-in", form: ["csrf": try #require(Browser.csrf(form.body)), "email": email,
                                                                           "password": "một mật khẩu đủ dài", "next": "/dashboard"])
                    #expect(answer.status == 303)
                }
                func api(_ path: String, actor: String) async throws -> [String: Any] {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)" + path)
                    request.headers.add(name: "Authorization", value: "Bearer " + (try await TestTokens.make(settings, actor)))
                    let response = try await http.execute(request, timeout: .seconds(30))
                    let body = try await response.body.collect(upTo: 1 << 22)
                    #expect(response.status == .ok, "\(path): \(response.status)")
                    return try APITests.object(body)
                }

                for (email, actor, inScope) in [("gs@example.org", "supervisor:office", { (_: Seeded) in true }),
                                                ("uv@example.org", "member:m-north", { (i: Seeded) in Self.units[i.unit] == "north" })] {
                    try await signIn(email)
                    let visible = seeded.filter(inScope)
                    let received = visible.filter { $0.created >= lo && $0.created < hi }
                    let open = visible.filter { ["routed", "acknowledged", "unroutable"].contains($0.state) }

                    // The page: the headline count, the grid's cells, 200.
                    let page = try await browser.request("/dashboard?" + query)
                    #expect(page.status == 200, "\(actor): \(page.status) \(page.body.prefix(400))")
                    #expect(page.body.contains("<strong>\(received.count)</strong>"), "\(actor): the headline shows \(received.count) received")
                    #expect(page.body.contains("<svg"), "the charts are drawn on the server")
                    #expect(!page.body.contains("src=\"http") && !page.body.contains("href=\"http"), "nothing from another host")

                    // The API's summary for the same period and scope.
                    let summary = try await api("/v1/reports/summary?from=\(first)&to=\(today)", actor: actor)
                    // The dashboard's own summary (agencies and sectors summed from their pairs, the
                    // working-time percentiles computed in Swift) equals the API's (percentile_cont in
                    // the statement) to the last bit; and so do the counts alone.
                    try await TestPostgres.withClient(settings) { client in
                        let reports = ReportStore(client: client)
                        let scope = actor == "supervisor:office" ? Actor(kind: .supervisor, code: "office") : Actor(kind: .member, code: "m-north")
                        func summary(_ detail: ReportStore.Detail) async throws -> ReportStore.Summary {
                            try await reports.summary(from: .day(first.description), to: .day(today.description), scope: scope, detail: detail, logger: testLogger)
                        }
                        let full = try await summary(.full), dashboard = try await summary(.dashboard), counts = try await summary(.counts)
                        let none = ReportStore.Times(median: nil, p90: nil)
                        func working(_ rows: [ReportStore.Row]) -> [ReportStore.Row] {
                            rows.map { var row = $0; row.acknowledgeSeconds = none; row.resolveSeconds = none; return row }
                        }
                        func countsOnly(_ rows: [ReportStore.Row]) -> [ReportStore.Row] {
                            working(rows).map { var row = $0; row.acknowledgeWorkingSeconds = none; row.resolveWorkingSeconds = none; return row }
                        }
                        #expect(!full.agencies.isEmpty && full.agencies.contains { $0.resolveWorkingSeconds.p90 != nil })
                        #expect(dashboard.agencies == working(full.agencies), "\(actor): agencies")
                        #expect(dashboard.sectors == working(full.sectors), "\(actor): sectors")
                        #expect(counts.agencies == countsOnly(full.agencies) && counts.sectors == countsOnly(full.sectors), "\(actor): counts")
                        #expect(dashboard.units.isEmpty && dashboard.areas.isEmpty && dashboard.from == full.from && dashboard.to == full.to)
                    }
                    for (dimension, key, codes) in [("agencies", "agency", ["land-dept", "health-dept"]), ("sectors", "sector", ["land", "health"])] {
                        let rows = summary[dimension] as? [[String: Any]] ?? []
                        let csv = Self.parseCSV(try await browser.request("/dashboard.csv?table=\(dimension)&" + query).body)
                        for code in codes {
                            let mine = received.filter { (key == "agency" ? $0.agency : $0.sector) == code }
                            let mineOpen = open.filter { (key == "agency" ? $0.agency : $0.sector) == code }
                            let expected = Self.expectedLine(mine, open: mineOpen, now: now, wording: wording, calendar: calendar)
                            let line = try #require(csv.first { $0.count > 1 && $0[1] == code }, "\(actor) \(dimension) \(code) in the CSV")
                            #expect(Array(line.dropFirst(2)) == expected, "\(actor) \(dimension) \(code): the page says \(line), the recount \(expected)")
                            let row = rows.first { $0["code"] as? String == code }
                            #expect((row?["received"] as? Int ?? 0) == mine.count, "\(actor) \(dimension) \(code): the API's received")
                            let work = row?["resolve_working_seconds"] as? [String: Any]
                            let resolveTimes = mine.compactMap { i in i.resolved.map { Double(calendar.workingSeconds(from: i.created, to: $0)) } }
                            if let median = Self.percentile(resolveTimes, 0.5) {
                                #expect(abs((work?["median"] as? Double ?? -1) - median) < 0.5, "\(actor) \(dimension) \(code): the API's working median")
                            }
                        }
                    }
                    // Units: open and overdue now, per cell.
                    let units = Self.parseCSV(try await browser.request("/dashboard.csv?table=units&" + query).body)
                    for (code, name) in [("N1", "Xã Bắc 1"), ("N2", "Phường Bắc 2"), ("S1", "Xã Nam 1")] where inScope(Seeded(id: 0, unit: code, sector: "", created: now, state: "")) {
                        let mine = open.filter { $0.unit == code }
                        let expected = Self.expectedLine([], open: mine, now: now, wording: wording, calendar: calendar)
                        let line = try #require(units.first { $0.count > 1 && $0[1] == name }, "\(actor) unit \(code)")
                        #expect(line[2] == expected[0] && line[3] == expected[1], "\(actor) unit \(code): \(line) against \(expected.prefix(2))")
                    }
                    if actor != "supervisor:office" { #expect(!units.contains { $0.count > 1 && $0[1] == "Xã Nam 1" }, "a member sees only their area") }
                    // The series: received and resolved per day, overdue at each day's end.
                    let series = Self.parseCSV(try await browser.request("/dashboard.csv?table=series&" + query).body).dropFirst()
                    #expect(series.count == 36, "36 days")
                    var day = first
                    var totalReceived = 0
                    for line in series {
                        let start = zone.date(from: DateComponents(year: day.year, month: day.month, day: day.day))!
                        let next = day.adding(days: 1)
                        let end = zone.date(from: DateComponents(year: next.year, month: next.month, day: next.day))!
                        let inDay = visible.filter { $0.created >= start && $0.created < end }.count
                        let resolvedInDay = visible.filter { $0.resolved.map { $0 >= start && $0 < end } ?? false }.count
                        let at = min(end, now)
                        let overdueAt = visible.filter { i in
                            if let r = i.resolved, r <= at { return false }
                            if let due = i.acknowledgeDue, due < at, i.acknowledged.map({ $0 > at }) ?? true { return true }
                            if let due = i.resolveDue, due < at { return true }
                            return false
                        }.count
                        #expect(line[1] == "\(inDay)" && line[2] == "\(resolvedInDay)" && line[3] == "\(overdueAt)", "\(actor) \(day): \(line) against \(inDay), \(resolvedInDay), \(overdueAt)")
                        totalReceived += inDay
                        day = next
                    }
                    #expect(totalReceived == received.count)
                    // The resolution times: the period's reports resolved, by counted time (4, 8, 16,
                    // 40, 80 working hours), recounted from the seeded instants.
                    let bars = Self.parseCSV(try await browser.request("/dashboard.csv?table=resolve-times&" + query).body).dropFirst()
                    var recount = [Int](repeating: 0, count: 6)
                    for i in received {
                        guard let resolved = i.resolved else { continue }
                        let seconds = calendar.workingSeconds(from: i.created, to: resolved)
                        recount[[4, 8, 16, 40, 80].firstIndex { $0 * 3600 > seconds } ?? 5] += 1
                    }
                    #expect(bars.map { $0.last ?? "" } == recount.map(String.init), "\(actor) resolution times: \(Array(bars)) against \(recount)")
                    #expect(recount.reduce(0, +) > 0 && recount.filter { $0 > 0 }.count > 1, "the history spreads over several bars: \(recount)")
                    // The printable report: the same tables, an A4 page.
                    let report = try await browser.request("/report?" + query)
                    #expect(report.status == 200 && report.body.contains("class=\"report-head\"") && report.body.contains("<strong>\(received.count)</strong>"))
                }

                // A grid with nothing in it: the member asks for the other area, outside their scope.
                let otherArea = try await browser.request("/dashboard?area=south")
                #expect(otherArea.status == 200 && otherArea.body.contains("Phạm vi này không có đơn vị nào."), "\(otherArea.status)")
                // A period with nothing in it is said so, not an error (the member is signed in).
                let empty = try await browser.request("/dashboard?period=custom&from=2001-01-01&to=2001-01-31")
                #expect(empty.status == 200 && empty.body.contains("Chưa có phản ánh nào trong phạm vi và kỳ này."), "\(empty.status)")

                // Bad input: a 400 page with the message beside the field, or a 400 for the CSV.
                try await signIn("gs@example.org")
                for (path, message) in [
                    ("/dashboard?period=custom&from=9999-01-01&to=9999-02-01", "Năm phải trong khoảng 2000–2999."),
                    ("/dashboard?period=custom&from=2026-05-01&to=2026-04-01", "Ngày kết thúc phải từ ngày bắt đầu trở đi."),
                    ("/dashboard?period=custom&from=2020-01-01&to=2026-01-01", "Một kỳ báo cáo dài tối đa 366 ngày."),
                    ("/dashboard?period=custom&from=31/02/2026&to=2026-04-01", "Ngày phải viết dạng dd/mm/yyyy."),
                    ("/dashboard?period=someday", "Kỳ báo cáo không hợp lệ."),
                    ("/dashboard?area=nowhere", "Không có địa bàn này trong danh mục."),
                    ("/dashboard?sector=%3Cscript%3E", "Không có lĩnh vực này trong danh mục."),
                    ("/report?period=custom&from=2026-05-01&to=2026-04-01", "Ngày kết thúc phải từ ngày bắt đầu trở đi."),
                ] {
                    let answer = try await browser.request(path)
                    #expect(answer.status == 400 && answer.body.contains(message), "\(path): \(answer.status)")
                    #expect(!answer.body.contains("<script>"), "escaped")
                }
                for path in ["/dashboard.csv?table=nothing", "/dashboard.csv?table=units&period=custom&from=2026-05-01&to=2026-04-01",
                             "/dashboard.csv?table=units&area=nowhere"] {
                    #expect(try await browser.request(path).status == 400, "\(path)")
                }
            }

            // The lifecycle writes the working time itself: acknowledge and resolve a fresh issue.
            try await TestPostgres.execute(settings, "INSERT INTO escalated.issues (unit_code, sector_code, title) VALUES ('N1', 'land', 'Đo thời gian')")
            try await InProcessDaemon.with(settings) { _ in
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.issues WHERE title = 'Đo thời gian' AND state = 'routed'", equals: 1)
            }
            try await TestPostgres.withClient(settings) { client in
                let id = try await TestPostgres.scalar(settings, "SELECT id FROM escalated.issues WHERE title = 'Đo thời gian'")
                let lifecycle = LifecycleStore(client: client, cache: RoutingTableCache())
                try await lifecycle.perform(.acknowledge, issue: id, actor: Actor(kind: .agency, code: "land-dept"), logger: testLogger)
                try await lifecycle.perform(.resolve(resolution: "xong"), issue: id, actor: Actor(kind: .agency, code: "land-dept"), logger: testLogger)
                var rows: [(Date, Date, Date, Int, Int)] = []
                for try await row in try await client.query("""
                    SELECT created_at, acknowledged_at, resolved_at, acknowledge_work_seconds, resolve_work_seconds FROM escalated.issues WHERE id = \(id)
                    """, logger: testLogger).decode((Date, Date, Date, Int, Int).self) { rows.append(row) }
                let (created, acked, resolved, ackWork, resolveWork) = try #require(rows.first)
                #expect(ackWork == calendar.workingSeconds(from: created, to: acked))
                #expect(resolveWork == calendar.workingSeconds(from: created, to: resolved))
            }
        }
    }
}
