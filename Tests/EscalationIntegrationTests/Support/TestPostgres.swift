import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Logging
import PostgresCluster
import PostgresNIO
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Every integration suite nests here, so they run one at a time: several of them start daemons
/// and measure that something happens within seconds, which two cores cannot promise in parallel.
@Suite("Integration (real PostgreSQL)", .serialized)
enum IntegrationTests {}

let testLogger: Logger = {
    var logger = Logger(label: "escalated-tests")
    logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return logger
}()

nonisolated(unsafe) private var clusterToStop: PostgresCluster?

/// The server every integration test uses: `DATABASE_URL` when set, otherwise a private cluster
/// this test process starts (fsync off: tests prove behaviour, the benchmark measures speed) and
/// stops at exit. A missing PostgreSQL fails the tests; it never skips them.
private let sharedServer: Result<DatabaseSettings, any Error> = {
    if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
        return Result { try DatabaseSettings(url: url) }
    }
    return Result {
        let folder = NSTemporaryDirectory() + "escalated-tests-\(getpid())"
        let cluster = try PostgresCluster.start(
            dataDirectory: folder,
            settings: ["fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "300"],
            logger: testLogger
        )
        clusterToStop = cluster
        atexit {
            guard let cluster = clusterToStop else { return }
            cluster.stop()
            try? FileManager.default.removeItem(atPath: cluster.dataDirectory)
        }
        return try DatabaseSettings(url: cluster.url())
    }
}()

enum TestPostgres {
    /// A new database on the shared server, migrated unless `migrate` is false, with `directory`
    /// imported unless it is nil; on `server` (a cluster of the test's own) or the shared one.
    static func freshDatabase(migrate: Bool = true, directory: Directory? = TestDirectory.make(),
                              on server: DatabaseSettings? = nil) async throws -> DatabaseSettings {
        let server = try server ?? sharedServer.get()
        let name = "t_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000_000)"
        _ = try await withConnection(server) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: testLogger)
        }
        let settings = server.with(database: name)
        if migrate {
            try await withClient(settings) { client in
                try await Migrator(migrations: try Migrator.bundled()).migrate(client: client, logger: testLogger)
                if let directory {
                    _ = try await DirectoryStore(client: client).importDirectory(directory, logger: testLogger)
                }
            }
        }
        return settings
    }

    static func withConnection<T: Sendable>(_ settings: DatabaseSettings, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await PostgresConnection.connect(
            configuration: settings.connectionConfiguration(applicationName: "escalated-test"), id: 1, logger: testLogger
        )
        do {
            let value = try await body(connection)
            try? await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func withClient<T: Sendable>(_ settings: DatabaseSettings, _ body: @escaping @Sendable (Database) async throws -> T) async throws -> T {
        try await Daemon.withClient(settings, applicationName: "escalated-test", logger: testLogger, body)
    }

    /// Runs one query and returns its single Int64 (a count, an id); 0 when it returns no row.
    static func scalar(_ settings: DatabaseSettings, _ sql: String) async throws -> Int64 {
        try await withConnection(settings) { connection in
            var value: Int64 = 0
            for try await v in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: testLogger).decode(Int64.self) {
                value = v
            }
            return value
        }
    }

    /// Runs one query and returns its rows' single text column.
    static func strings(_ settings: DatabaseSettings, _ sql: String) async throws -> [String] {
        try await withConnection(settings) { connection in
            var values: [String] = []
            for try await v in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: testLogger).decode(String.self) {
                values.append(v)
            }
            return values
        }
    }

    static func execute(_ settings: DatabaseSettings, _ sql: String) async throws {
        _ = try await withConnection(settings) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: testLogger)
        }
    }

    /// Waits until `sql` returns `expected`, or throws after `timeout`.
    static func waitUntil(_ settings: DatabaseSettings, _ sql: String, equals expected: Int64, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last: Int64 = -1
        while ContinuousClock.now < deadline {
            last = try await scalar(settings, sql)
            if last == expected { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("timed out after \(timeout) waiting for `\(sql)` to be \(expected); last value \(last)")
    }

    /// Inserts `count` issues the way another system would (plain SQL), in one statement.
    static func insertIssues(_ settings: DatabaseSettings, count: Int, unit: String = "N1", sector: String = "land", severity: String = "normal") async throws {
        try await execute(settings, """
            INSERT INTO escalated.issues (unit_code, sector_code, title, severity)
            SELECT '\(unit)', '\(sector)', 'report ' || g, '\(severity)' FROM generate_series(1, \(count)) g
            """)
    }

    /// Inserts `count` urgent `roads` issues in one statement: one report time, so one set of
    /// deadlines (acknowledge 2 s after the report) and one escalation schedule for all.
    static func insertFastIssues(_ settings: DatabaseSettings, count: Int) async throws {
        try await insertIssues(settings, count: count, sector: "roads", severity: "urgent")
    }

    static let routedCount = "SELECT count(*) FROM escalated.issues WHERE state = 'routed'"

    /// Checks that every issue is either untouched (reported, no assignment, only its `reported`
    /// event) or routed exactly once (two assignments, one `routed` event); returns how many are routed.
    static func checkNothingHalfRouted(_ settings: DatabaseSettings) async throws -> Int64 {
        let broken = try await scalar(settings, """
            SELECT count(*) FROM escalated.issues i
             WHERE NOT (
                (i.state = 'reported'
                   AND NOT EXISTS (SELECT 1 FROM escalated.assignments a WHERE a.issue_id = i.id)
                   AND (SELECT count(*) FROM escalated.events e WHERE e.issue_id = i.id) = 1)
             OR (i.state = 'routed'
                   AND (SELECT count(*) FROM escalated.assignments a WHERE a.issue_id = i.id) = 2
                   AND (SELECT count(*) FROM escalated.events e WHERE e.issue_id = i.id AND e.kind = 'routed') = 1
                   AND (SELECT count(*) FROM escalated.events e WHERE e.issue_id = i.id) = 2)
             )
            """)
        if broken != 0 { throw TestFailure("\(broken) issues are half-routed or routed twice") }
        let orphans = try await scalar(settings, """
            SELECT (SELECT count(*) FROM escalated.assignments a WHERE NOT EXISTS (SELECT 1 FROM escalated.issues i WHERE i.id = a.issue_id))
                 + (SELECT count(*) FROM escalated.events e WHERE NOT EXISTS (SELECT 1 FROM escalated.issues i WHERE i.id = e.issue_id))
            """)
        if orphans != 0 { throw TestFailure("\(orphans) assignments or events belong to no issue") }
        return try await scalar(settings, routedCount)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The directory the integration tests route with.
enum TestDirectory {
    static func make(rules: [RoutingRule] = [], extraUnits: [EscalationCore.Unit] = []) -> Directory {
        Directory(
            people: [Person(code: "m-north", name: "Thành viên phụ trách khu Bắc"), Person(code: "m-south", name: "Member South", email: "m-south@example.org", locale: .en),
                     Person(code: "office", name: "Văn phòng", email: "office@example.org")],
            areas: [Area(code: "north", name: "Khu vực Bắc", member: "m-north"), Area(code: "south", name: "South", member: "m-south")],
            units: [EscalationCore.Unit(code: "N1", name: "Xã Bắc 1", kind: .commune, area: "north"),
                    EscalationCore.Unit(code: "N2", name: "Phường Bắc 2", kind: .ward, area: "north"),
                    EscalationCore.Unit(code: "S1", name: "Xã Nam 1", kind: .commune, area: "south")] + extraUnits,
            agencies: [Agency(code: "land-dept", name: "Sở Nông nghiệp và Môi trường", emails: ["land@example.org"]),
                       Agency(code: "health-dept", name: "Sở Y tế")],
            sectors: [Sector(code: "land", nameVi: "Đất đai", nameEn: "Land", agency: "land-dept",
                             normal: Deadlines(acknowledgeSeconds: 4 * 3600, resolveSeconds: 40 * 3600)),
                      Sector(code: "health", nameVi: "Y tế", nameEn: "Health", agency: "health-dept"),
                      // Deadlines of seconds, counted in real time (urgent), for the escalation tests.
                      Sector(code: "roads", nameVi: "Giao thông", nameEn: "Roads", agency: "land-dept",
                             urgent: Deadlines(acknowledgeSeconds: 2, resolveSeconds: 30), chain: "fast")],
            rules: rules,
            calendars: [officeHours],
            groups: [SupervisorGroup(code: "supervisors", name: "Giám sát", members: ["office"])],
            chains: [EscalationChain(code: "standard", name: "Cơ quan → Ủy viên → Giám sát", levels: [
                EscalationLevel(notify: [.agency], repeatEverySeconds: 2 * 3600, repeatTimes: 2),
                EscalationLevel(afterSeconds: 8 * 3600, notify: [.member]),
                EscalationLevel(afterSeconds: 8 * 3600, notify: [.group("supervisors")]),
            ]), fastChain],
            defaults: EscalationDefaults(calendar: "office", chain: "standard")
        )
    }

    /// From a missed deadline T: the agency at T and again at T+1s, the member at T+2s, the
    /// supervisors at T+4s.
    static let fastChain = EscalationChain(code: "fast", name: "Fast", levels: [
        EscalationLevel(notify: [.agency], repeatEverySeconds: 1, repeatTimes: 1),
        EscalationLevel(afterSeconds: 2, notify: [.member]),
        EscalationLevel(afterSeconds: 2, notify: [.group("supervisors")]),
    ])

    /// Monday to Friday 07:30-11:30 and 13:30-17:00 in Vietnam.
    static let officeHours: CalendarDefinition = {
        let day = [WorkingHours("07:30-11:30")!, WorkingHours("13:30-17:00")!]
        return CalendarDefinition(code: "office", timeZone: "Asia/Ho_Chi_Minh", weekly: [2: day, 3: day, 4: day, 5: day, 6: day],
                                  holidays: [LocalDate("2025-09-02")!])
    }()
}
