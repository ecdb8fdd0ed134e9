public import EscalationCore
public import EscalationStore
public import Foundation
public import Logging
import PostgresNIO
public import ServiceLifecycle

/// Makes each supervisor group's daily digest once, at its `digest_at` local time, and its
/// weekly or monthly report once per period (see `DigestService+Reports.swift`).
///
/// Every half minute it reads the database's clock, turns it into the local date and time of
/// the directory's default calendar, and makes the digests and reports that are due and not yet
/// made; the database keeps one scheduled digest per group and day, and one report per group,
/// kind and period, whatever the number of daemons.
public final class DigestService: Service {
    private let store: DigestStore
    let reports: PeriodReportStore
    private let client: Database
    private let cache: RoutingTableCache
    private let interval: Duration
    let logger: Logger
    private let wake = WakeSignal()
    private let timer = WakeTimer()

    public init(store: DigestStore, reports: PeriodReportStore, client: Database, cache: RoutingTableCache, interval: Duration = .seconds(30),
                logger: Logger) {
        self.store = store
        self.reports = reports
        self.client = client
        self.cache = cache
        self.interval = interval
        self.logger = logger
    }

    /// The directory changed or the listener reconnected: look now.
    public func wakeUp() {
        wake.signal()
    }

    public func run() async throws {
        await wake.runUntilShutdown(timer: timer, work: {
            do {
                try await makeDue()
            } catch {
                logger.error("could not make the digests or reports; will retry", metadata: NotificationListener.errorMetadata(error))
            }
        }, plan: { timer.schedule(wake, secondsUntilDue: nil, poll: interval, retryDue: interval) })
    }

    /// The directory as it is now.
    public static func directory(client: Database, cache: RoutingTableCache, logger: Logger) async throws -> RoutingTableCache.Compiled {
        try await client.withConnection { connection in
            var revision: Int64 = 0
            for try await value in try await connection.query("SELECT revision FROM escalated.directory_meta", logger: logger).decode(Int64.self) {
                revision = value
            }
            return try await cache.compiled(revision: revision, connection: connection, logger: logger)
        }
    }

    /// The local date and minute of `instant` in the default calendar's time zone (UTC without one).
    public static func local(_ instant: Date, directory: Directory) -> (day: LocalDate, minute: Int) {
        let zone = directory.timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: instant)
        return (LocalDate(year: c.year!, month: c.month!, day: c.day!), c.hour! * 60 + c.minute!)
    }

    private func makeDue() async throws {
        let compiled = try await Self.directory(client: client, cache: cache, logger: logger)
        let (day, minute) = Self.local(try await store.now(logger: logger), directory: compiled.directory)
        for group in compiled.directory.groups {
            guard let at = group.digestMinute, minute >= at else { continue }
            guard try await !store.madeDaily(group: group.code, day: day, logger: logger) else { continue }
            if let id = try await Self.make(group: group.code, day: day, scheduled: true, compiled: compiled, store: store, logger: logger) {
                logger.info("daily digest made", metadata: ["digest.id": "\(id)", "digest.group": "\(group.code)", "digest.day": "\(day)"])
            }
        }
        try await makeDueReports(compiled: compiled, day: day, minute: minute)
    }

    /// Makes one digest of `group` and queues it for its members.
    public static func make(group: String, day: LocalDate, scheduled: Bool, compiled: RoutingTableCache.Compiled,
                            store: DigestStore, logger: Logger) async throws -> Int64? {
        let members = compiled.policy.members(ofGroup: group).map { code in
            (code, compiled.policy.channels(Notified(kind: .person, code: code)).filter { $0 == .email })
        }
        return try await store.make(group: group, day: day, scheduled: scheduled, members: members, logger: logger)
    }
}
