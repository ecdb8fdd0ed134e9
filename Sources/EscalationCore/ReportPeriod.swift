import Foundation

/// The period a dashboard or a periodic report covers: whole local days, `first` to `last`
/// included, in the directory's time zone.
public struct ReportPeriod: Sendable, Equatable {
    /// How a period was chosen.
    public enum Kind: String, Sendable, CaseIterable {
        case thisWeek = "this-week"
        case lastWeek = "last-week"
        case thisMonth = "this-month"
        case lastMonth = "last-month"
        case custom
    }

    public var kind: Kind
    public var first: LocalDate
    public var last: LocalDate

    public init(kind: Kind, first: LocalDate, last: LocalDate) {
        self.kind = kind
        self.first = first
        self.last = last
    }

    /// The longest period one report covers (the summary API's limit too).
    public static let maximumDays = 366
    /// Days before this year or after this one are refused: no report covers them.
    public static let years = 2000...2999

    /// Why a period was refused, naming the field.
    public enum Problem: Error, Sendable, Equatable {
        case unknownKind
        case badDate(field: String)
        case outOfRange(field: String)
        case reversed
        case tooLong
    }

    /// The period `kind` names on `today` (weeks run Monday to Sunday), or the custom one from
    /// `from` to `to` (`yyyy-MM-dd` or `dd/MM/yyyy`, both days included).
    public static func resolve(kind text: String?, from: String?, to: String?, today: LocalDate) throws(Problem) -> ReportPeriod {
        let kind: Kind
        if let text, !text.isEmpty {
            guard let parsed = Kind(rawValue: text) else { throw .unknownKind }
            kind = parsed
        } else {
            kind = (from?.isEmpty == false || to?.isEmpty == false) ? .custom : .thisWeek
        }
        switch kind {
        case .thisWeek:
            let monday = today.adding(days: -today.isoWeekdayIndex)
            return ReportPeriod(kind: kind, first: monday, last: monday.adding(days: 6))
        case .lastWeek:
            let monday = today.adding(days: -today.isoWeekdayIndex - 7)
            return ReportPeriod(kind: kind, first: monday, last: monday.adding(days: 6))
        case .thisMonth:
            let first = LocalDate(year: today.year, month: today.month, day: 1)
            return ReportPeriod(kind: kind, first: first, last: first.monthEnd)
        case .lastMonth:
            let first = LocalDate(year: today.year, month: today.month, day: 1).adding(days: -1)
            let start = LocalDate(year: first.year, month: first.month, day: 1)
            return ReportPeriod(kind: kind, first: start, last: start.monthEnd)
        case .custom:
            func day(_ value: String?, _ field: String) throws(Problem) -> LocalDate {
                guard let value, !value.isEmpty else { throw .badDate(field: field) }
                guard let date = LocalDate(value) ?? LocalDate(dayMonthYear: value) else { throw .badDate(field: field) }
                guard years.contains(date.year) else { throw .outOfRange(field: field) }
                return date
            }
            let first = try day(from, "from"), last = try day(to, "to")
            guard first <= last else { throw .reversed }
            guard first.days(until: last) < maximumDays else { throw .tooLong }
            return ReportPeriod(kind: .custom, first: first, last: last)
        }
    }

    /// The number of days in the period.
    public var days: Int { first.days(until: last) + 1 }

    /// The period just before this one: the previous month for a whole month, else as many days
    /// ending the day before.
    public var previous: ReportPeriod {
        if first.day == 1, last == first.monthEnd {
            let end = first.adding(days: -1)
            let start = LocalDate(year: end.year, month: end.month, day: 1)
            return ReportPeriod(kind: .custom, first: start, last: end)
        }
        return ReportPeriod(kind: .custom, first: first.adding(days: -days), last: first.adding(days: -1))
    }

    /// The steps a chart of the period draws: days up to 62 days, else weeks from `first`.
    public var steps: [LocalDate] {
        let stride = days <= 62 ? 1 : 7
        var bounds: [LocalDate] = []
        var day = first
        while day <= last {
            bounds.append(day)
            day = day.adding(days: stride)
        }
        bounds.append(last.adding(days: 1))
        return bounds
    }

    /// Whether the chart's steps are days (else weeks).
    public var daily: Bool { days <= 62 }
}

extension LocalDate {
    /// `dd/MM/yyyy`, as people write it here.
    public init?(dayMonthYear text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, let d = Int(parts[0]), let m = Int(parts[1]), let y = Int(parts[2]), parts[2].count == 4 else { return nil }
        let date = LocalDate(year: y, month: m, day: d)
        guard LocalDate(date.description) == date else { return nil }
        self = date
    }

    /// The day `days` later (earlier when negative).
    public func adding(days: Int) -> LocalDate {
        SubscriptionPeriod.day(self, plus: days)
    }

    /// Days from this day to `other` (negative when `other` is earlier).
    public func days(until other: LocalDate) -> Int {
        SubscriptionPeriod.dayNumber(other) - SubscriptionPeriod.dayNumber(self)
    }

    /// Monday 0 ... Sunday 6.
    public var isoWeekdayIndex: Int {
        SubscriptionPeriod.isoWeekday(self) - 1
    }

    /// The last day of this day's month.
    public var monthEnd: LocalDate {
        LocalDate(year: year, month: month, day: SubscriptionPeriod.daysIn(year: year, month: month))
    }

    /// `dd/MM/yyyy`.
    public var dayMonthYear: String {
        String(format: "%02d/%02d/%04d", day, month, year)
    }
}
