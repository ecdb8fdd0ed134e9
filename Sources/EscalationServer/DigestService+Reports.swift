public import EscalationCore
public import EscalationStore
import Foundation
public import Logging

extension DigestService {
    /// Makes the weekly and monthly reports due at local `day` and `minute` and not yet made.
    ///
    /// ``SubscriptionPeriod/due(kind:day:minute:reportMinute:)`` names the period whose report is due:
    /// the one that just ended, from `report_at` on the first day of the next period until that
    /// period ends. A daemon that was down at that minute makes it when it starts later in the
    /// same period; an older period's report is never made.
    func makeDueReports(compiled: RoutingTableCache.Compiled, day: LocalDate, minute: Int) async throws {
        for group in compiled.directory.groups {
            guard let (kind, at) = group.reportSchedule,
                  let period = SubscriptionPeriod.due(kind: kind, day: day, minute: minute, reportMinute: at) else { continue }
            guard try await !reports.made(group: group.code, period: period, logger: logger) else { continue }
            if let id = try await Self.makeReport(group: group.code, period: period, compiled: compiled, store: reports, logger: logger) {
                logger.info("periodic report made", metadata: [
                    "report.id": "\(id)", "report.group": "\(group.code)", "report.period": "\(period)",
                ])
            }
        }
    }

    /// Makes `group`'s report of `period`, its figures read now, and queues it for the group's
    /// members who have an email; nil when it was already made.
    public static func makeReport(group: String, period: SubscriptionPeriod, compiled: RoutingTableCache.Compiled,
                                  store: PeriodReportStore, logger: Logger) async throws -> Int64? {
        let members = compiled.policy.members(ofGroup: group).filter { code in
            compiled.policy.channels(Notified(kind: .person, code: code)).contains(.email)
        }
        let figures = try await store.figures(period: period, logger: logger)
        return try await store.make(group: group, period: period, figures: figures, members: members, logger: logger)
    }
}
