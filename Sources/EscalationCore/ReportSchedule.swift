public import Foundation

/// How often a supervisor group gets a periodic report (`report:` in the directory).
public enum ReportKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// ISO weeks, Monday to Sunday.
    case weekly
    /// Calendar months.
    case monthly
}

/// One period a subscribed (weekly or monthly) report covers: an ISO week (Monday to Sunday) or a
/// calendar month, as local dates of the default calendar's time zone, both ends included.
///
/// A period's report is due from `report_at` on the first day of the next period until that
/// period ends (a daemon that was down at that minute makes it later the same period); an older
/// period's report is never due.
public struct SubscriptionPeriod: Sendable, Hashable, CustomStringConvertible {
    public var kind: ReportKind
    /// The first day.
    public var start: LocalDate
    /// The last day (included).
    public var end: LocalDate

    public init(kind: ReportKind, start: LocalDate, end: LocalDate) {
        self.kind = kind
        self.start = start
        self.end = end
    }

    /// The period of `kind` that `day` falls in.
    public static func containing(_ day: LocalDate, kind: ReportKind) -> SubscriptionPeriod {
        switch kind {
        case .weekly:
            let monday = Self.day(day, plus: 1 - Self.isoWeekday(day))
            return SubscriptionPeriod(kind: kind, start: monday, end: Self.day(monday, plus: 6))
        case .monthly:
            let first = LocalDate(year: day.year, month: day.month, day: 1)
            let last = LocalDate(year: day.year, month: day.month, day: Self.daysIn(year: day.year, month: day.month))
            return SubscriptionPeriod(kind: kind, start: first, end: last)
        }
    }

    /// The period just before this one.
    public var previous: SubscriptionPeriod { Self.containing(Self.day(start, plus: -1), kind: kind) }

    /// The period just after this one.
    public var next: SubscriptionPeriod { Self.containing(Self.day(end, plus: 1), kind: kind) }

    /// The period whose report is due at local `day` and `minute` (after midnight) for a group
    /// reporting at `reportMinute`: the one that just ended, from `reportMinute` on the first day
    /// of the next period; nil on that first day before `reportMinute`.
    public static func due(kind: ReportKind, day: LocalDate, minute: Int, reportMinute: Int) -> SubscriptionPeriod? {
        let current = containing(day, kind: kind)
        if day == current.start && minute < reportMinute { return nil }
        return current.previous
    }

    /// ``due(kind:day:minute:reportMinute:)`` at `instant`, read in `timeZone`.
    public static func due(kind: ReportKind, at instant: Date, timeZone: TimeZone, reportMinute: Int) -> SubscriptionPeriod? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: instant)
        return due(kind: kind, day: LocalDate(year: c.year!, month: c.month!, day: c.day!), minute: c.hour! * 60 + c.minute!,
                   reportMinute: reportMinute)
    }

    /// The days as emails write them: `23/11–29/11/2026`, or `29/12/2025–04/01/2026` across a new year.
    public var dayRange: String {
        let tail = "\(twoDigits(end.day))/\(twoDigits(end.month))/\(end.year)"
        let head = "\(twoDigits(start.day))/\(twoDigits(start.month))" + (start.year == end.year ? "" : "/\(start.year)")
        return head + "\u{2013}" + tail
    }

    /// `weekly 2026-11-23..2026-11-29`.
    public var description: String { "\(kind.rawValue) \(start)..\(end)" }

    /// The date `days` after `date` (before when negative), on the proleptic Gregorian calendar.
    public static func day(_ date: LocalDate, plus days: Int) -> LocalDate {
        civil(dayNumber(date) + days)
    }

    /// 1 = Monday ... 7 = Sunday (ISO 8601).
    public static func isoWeekday(_ date: LocalDate) -> Int {
        // Day 0, 1970-01-01, was a Thursday.
        ((dayNumber(date) % 7 + 7) % 7 + 3) % 7 + 1
    }

    /// Days in `month` of `year` (28 to 31).
    public static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (negative before), after H. Hinnant's `days_from_civil`.
    static func dayNumber(_ date: LocalDate) -> Int {
        let y = date.month <= 2 ? date.year - 1 : date.year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * ((date.month + 9) % 12) + 2) / 5 + date.day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date `dayNumber` days after 1970-01-01 (`civil_from_days`).
    static func civil(_ dayNumber: Int) -> LocalDate {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return LocalDate(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d)
    }
}
