public import Foundation

/// A date in a calendar's own time zone, without a time.
public struct LocalDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        var components = DateComponents(year: y, month: m, day: d)
        components.calendar = Calendar(identifier: .gregorian)
        guard components.isValidDate else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public static func < (a: LocalDate, b: LocalDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    public var description: String {
        String(format: "%04d-%02d-%02d", year, month, day)
    }
}

/// Working time between two minutes of a day, `start` included, `end` excluded (07:30-11:30 is 450..<690).
public struct WorkingHours: Sendable, Hashable, CustomStringConvertible {
    public var startMinute: Int
    public var endMinute: Int

    public init(startMinute: Int, endMinute: Int) {
        self.startMinute = startMinute
        self.endMinute = endMinute
    }

    /// Parses `HH:MM-HH:MM`; the end may be `24:00`.
    public init?(_ text: String) {
        let ends = text.split(separator: "-")
        func minute(_ s: Substring) -> Int? {
            let hm = s.split(separator: ":")
            guard hm.count == 2, hm[0].count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]),
                  (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 24 * 60 else { return nil }
            return h * 60 + m
        }
        guard ends.count == 2, let start = minute(ends[0]), let end = minute(ends[1]), start < end else { return nil }
        self.init(startMinute: start, endMinute: end)
    }

    public var minutes: Int { endMinute - startMinute }

    /// `HH:MM-HH:MM`, as ``init(_:)`` reads it.
    public var description: String {
        func hm(_ m: Int) -> String { String(format: "%02d:%02d", m / 60, m % 60) }
        return "\(hm(startMinute))-\(hm(endMinute))"
    }
}

/// When work happens: a time zone, hours per weekday, holidays, and extra working days.
///
/// Deadlines of normal issues count only working time on such a calendar; urgent ones use
/// ``WorkingCalendar/continuous(timeZone:)``, which counts every hour.
public struct WorkingCalendar: Sendable {
    /// Problems that make a calendar unusable, each one sentence.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case unknownTimeZone(String)
        case overlappingHours(weekday: Int)
        case noWorkingTime

        public var description: String {
            switch self {
            case .unknownTimeZone(let id): return "'\(id)' is not an IANA time zone"
            case .overlappingHours(let weekday): return "the hours of weekday \(weekday) overlap or are out of order"
            case .noWorkingTime: return "the calendar has no working hours on any weekday"
            }
        }
    }

    /// Weekday names as the directory file writes them, Sunday first (Foundation's 1...7).
    public static let weekdayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public let timeZone: TimeZone
    /// Hours per weekday, 1 = Sunday ... 7 = Saturday (Foundation's numbering).
    public let weekly: [Int: [WorkingHours]]
    public let holidays: Set<LocalDate>
    /// Days that work although their weekday does not (make-up Saturdays), with their hours.
    public let extraDays: [LocalDate: [WorkingHours]]
    private let calendar: Calendar

    /// Builds a calendar; hours must be sorted and must not overlap, and some weekday must work.
    public init(
        timeZone identifier: String,
        weekly: [Int: [WorkingHours]],
        holidays: Set<LocalDate> = [],
        extraDays: [LocalDate: [WorkingHours]] = [:]
    ) throws(Problem) {
        guard let zone = TimeZone(identifier: identifier) else { throw .unknownTimeZone(identifier) }
        for (weekday, hours) in weekly where !Self.ordered(hours) { throw .overlappingHours(weekday: weekday) }
        for (_, hours) in extraDays where !Self.ordered(hours) { throw .overlappingHours(weekday: 0) }
        guard weekly.values.contains(where: { !$0.isEmpty }) else { throw .noWorkingTime }
        self.timeZone = zone
        self.weekly = weekly
        self.holidays = holidays
        self.extraDays = extraDays
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        self.calendar = calendar
    }

    /// Every hour of every day counts (urgent issues).
    public static func continuous(timeZone identifier: String = "UTC") throws(Problem) -> WorkingCalendar {
        let allDay = [WorkingHours(startMinute: 0, endMinute: 24 * 60)]
        return try WorkingCalendar(timeZone: identifier, weekly: Dictionary(uniqueKeysWithValues: (1...7).map { ($0, allDay) }))
    }

    static func ordered(_ hours: [WorkingHours]) -> Bool {
        zip(hours, hours.dropFirst()).allSatisfy { $0.endMinute <= $1.startMinute }
            && hours.allSatisfy { $0.startMinute < $0.endMinute && $0.startMinute >= 0 && $0.endMinute <= 24 * 60 }
    }

    /// The working hours of one local date.
    public func hours(on date: LocalDate) -> [WorkingHours] {
        if let extra = extraDays[date] { return extra }
        if holidays.contains(date) { return [] }
        guard let start = startOfDay(date) else { return [] }
        return weekly[calendar.component(.weekday, from: start)] ?? []
    }

    func startOfDay(_ date: LocalDate) -> Date? {
        calendar.date(from: DateComponents(year: date.year, month: date.month, day: date.day))
    }

    func localDate(of instant: Date) -> LocalDate {
        let c = calendar.dateComponents([.year, .month, .day], from: instant)
        return LocalDate(year: c.year!, month: c.month!, day: c.day!)
    }

    func next(_ date: LocalDate) -> LocalDate {
        let start = startOfDay(date)!
        return localDate(of: calendar.date(byAdding: .day, value: 1, to: start)!)
    }

    /// The absolute intervals of working time on `date` (daylight-saving changes respected).
    func intervals(on date: LocalDate) -> [(start: Date, end: Date)] {
        hours(on: date).compactMap { h in
            guard let s = instant(date, minute: h.startMinute), let e = instant(date, minute: h.endMinute), s < e else { return nil }
            return (s, e)
        }
    }

    /// The instant of a local wall-clock minute (24:00 is the next midnight).
    func instant(_ date: LocalDate, minute: Int) -> Date? {
        if minute == 24 * 60 { return startOfDay(next(date)) }
        return calendar.date(from: DateComponents(year: date.year, month: date.month, day: date.day, hour: minute / 60, minute: minute % 60))
    }

    /// How far ahead to look for working time before giving up (a calendar of holidays only).
    static let searchDays = 3 * 366

    /// The instant at which `seconds` of working time have passed since `start`.
    ///
    /// The result always lies inside working time or at the end of a working interval; for zero it
    /// is `start` itself. Returns nil when the calendar has no working time in the next three years.
    public func due(from start: Date, seconds: Int) -> Date? {
        var remaining = Double(max(0, seconds))
        if remaining == 0 { return start }
        var day = localDate(of: start)
        for _ in 0..<Self.searchDays {
            for interval in intervals(on: day) where interval.end > start {
                let from = max(interval.start, start)
                let available = interval.end.timeIntervalSince(from)
                if available >= remaining { return from.addingTimeInterval(remaining) }
                remaining -= available
            }
            day = next(day)
        }
        return nil
    }

    /// Working seconds between two instants (zero when `end` is not after `start`).
    public func workingSeconds(from start: Date, to end: Date) -> Int {
        guard end > start else { return 0 }
        var total = 0.0
        var day = localDate(of: start)
        let lastDay = localDate(of: end)
        while day <= lastDay {
            for interval in intervals(on: day) {
                let s = max(interval.start, start)
                let e = min(interval.end, end)
                if e > s { total += e.timeIntervalSince(s) }
            }
            day = next(day)
        }
        return Int(total.rounded())
    }

    /// True when `instant` is inside working time (an interval's start included, its end excluded).
    public func isWorking(_ instant: Date) -> Bool {
        intervals(on: localDate(of: instant)).contains { $0.start <= instant && instant < $0.end }
    }
}
