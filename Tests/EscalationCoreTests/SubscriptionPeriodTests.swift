import EscalationCore
import Foundation
import Testing

@Suite("Periodic report periods")
struct SubscriptionPeriodTests {
    func day(_ text: String) -> LocalDate { LocalDate(text)! }

    @Test("ISO weeks run Monday to Sunday, across month and year ends", arguments: [
        ("2026-11-23", "2026-11-23", "2026-11-29"), // a Monday
        ("2026-11-29", "2026-11-23", "2026-11-29"), // its Sunday
        ("2026-12-02", "2026-11-30", "2026-12-06"), // a Wednesday; the week starts in November
        ("2027-01-01", "2026-12-28", "2027-01-03"), // a Friday: the week started the year before
        ("2026-01-01", "2025-12-29", "2026-01-04"),
        ("2024-02-29", "2024-02-26", "2024-03-03"), // a leap day
    ])
    func weeks(date: String, start: String, end: String) {
        let week = SubscriptionPeriod.containing(day(date), kind: .weekly)
        #expect(week == SubscriptionPeriod(kind: .weekly, start: day(start), end: day(end)))
        #expect(SubscriptionPeriod.isoWeekday(week.start) == 1 && SubscriptionPeriod.isoWeekday(week.end) == 7)
    }

    @Test("months end on their last day, February by the leap-year rule", arguments: [
        ("2026-11-15", "2026-11-01", "2026-11-30"),
        ("2026-12-31", "2026-12-01", "2026-12-31"),
        ("2024-02-10", "2024-02-01", "2024-02-29"),
        ("2025-02-28", "2025-02-01", "2025-02-28"),
        ("2100-02-01", "2100-02-01", "2100-02-28"),
        ("2000-02-01", "2000-02-01", "2000-02-29"),
    ])
    func months(date: String, start: String, end: String) {
        #expect(SubscriptionPeriod.containing(day(date), kind: .monthly) == SubscriptionPeriod(kind: .monthly, start: day(start), end: day(end)))
    }

    @Test("the period before a January is the December of the year before; before the first ISO week, the last week of the year before")
    func previous() {
        #expect(SubscriptionPeriod.containing(day("2027-01-20"), kind: .monthly).previous
            == SubscriptionPeriod(kind: .monthly, start: day("2026-12-01"), end: day("2026-12-31")))
        #expect(SubscriptionPeriod.containing(day("2026-03-05"), kind: .monthly).previous
            == SubscriptionPeriod(kind: .monthly, start: day("2026-02-01"), end: day("2026-02-28")))
        #expect(SubscriptionPeriod.containing(day("2027-01-05"), kind: .weekly).previous
            == SubscriptionPeriod(kind: .weekly, start: day("2026-12-28"), end: day("2027-01-03")))
        let week = SubscriptionPeriod.containing(day("2026-11-25"), kind: .weekly)
        #expect(week.previous.next == week && week.next.previous == week)
    }

    @Test("a report is due from report_at on the first day of the next period until that period ends, never for older periods")
    func due() {
        let lastWeek = SubscriptionPeriod(kind: .weekly, start: day("2026-11-23"), end: day("2026-11-29"))
        // Monday 30 November, reporting at 08:00.
        #expect(SubscriptionPeriod.due(kind: .weekly, day: day("2026-11-30"), minute: 7 * 60 + 59, reportMinute: 480) == nil)
        #expect(SubscriptionPeriod.due(kind: .weekly, day: day("2026-11-30"), minute: 480, reportMinute: 480) == lastWeek)
        // A daemon that was down makes it later the same week...
        #expect(SubscriptionPeriod.due(kind: .weekly, day: day("2026-12-06"), minute: 23 * 60 + 59, reportMinute: 480) == lastWeek)
        // ...but from the next Monday it is the following week's report that is due (once it is 08:00).
        #expect(SubscriptionPeriod.due(kind: .weekly, day: day("2026-12-07"), minute: 60, reportMinute: 480) == nil)
        #expect(SubscriptionPeriod.due(kind: .weekly, day: day("2026-12-07"), minute: 480, reportMinute: 480)?.start == day("2026-11-30"))

        let november = SubscriptionPeriod(kind: .monthly, start: day("2026-11-01"), end: day("2026-11-30"))
        #expect(SubscriptionPeriod.due(kind: .monthly, day: day("2026-12-01"), minute: 0, reportMinute: 0) == november)
        #expect(SubscriptionPeriod.due(kind: .monthly, day: day("2026-12-01"), minute: 479, reportMinute: 480) == nil)
        #expect(SubscriptionPeriod.due(kind: .monthly, day: day("2026-12-31"), minute: 1439, reportMinute: 480) == november)
        #expect(SubscriptionPeriod.due(kind: .monthly, day: day("2027-01-01"), minute: 480, reportMinute: 480)
            == SubscriptionPeriod(kind: .monthly, start: day("2026-12-01"), end: day("2026-12-31")))
    }

    @Test("the instant is read in the default calendar's time zone: 00:30 UTC on a Monday is already 07:30 in Vietnam")
    func timeZone() throws {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        // Monday 30 November 2026, 00:30 UTC = 07:30 in Ho Chi Minh City (UTC+7).
        let instant = try #require(utc.date(from: DateComponents(year: 2026, month: 11, day: 30, hour: 0, minute: 30)))
        let vietnam = try #require(TimeZone(identifier: "Asia/Ho_Chi_Minh"))
        let lastWeek = SubscriptionPeriod(kind: .weekly, start: day("2026-11-23"), end: day("2026-11-29"))
        #expect(SubscriptionPeriod.due(kind: .weekly, at: instant, timeZone: vietnam, reportMinute: 7 * 60) == lastWeek)
        #expect(SubscriptionPeriod.due(kind: .weekly, at: instant, timeZone: vietnam, reportMinute: 8 * 60) == nil)
        // In UTC it is still 00:30 on Monday: before 07:00.
        #expect(SubscriptionPeriod.due(kind: .weekly, at: instant, timeZone: utc.timeZone, reportMinute: 7 * 60) == nil)
        // Sunday 29 November 20:00 UTC is Monday 03:00 in Vietnam: a new week there, not in UTC.
        let evening = try #require(utc.date(from: DateComponents(year: 2026, month: 11, day: 29, hour: 20)))
        #expect(SubscriptionPeriod.due(kind: .weekly, at: evening, timeZone: vietnam, reportMinute: 0) == lastWeek)
        #expect(SubscriptionPeriod.due(kind: .weekly, at: evening, timeZone: utc.timeZone, reportMinute: 0)?.start == day("2026-11-16"))
        // New Year's Eve 18:00 UTC is 1 January 01:00 in Vietnam: December's report is due there.
        let newYear = try #require(utc.date(from: DateComponents(year: 2026, month: 12, day: 31, hour: 18)))
        #expect(SubscriptionPeriod.due(kind: .monthly, at: newYear, timeZone: vietnam, reportMinute: 60)
            == SubscriptionPeriod(kind: .monthly, start: day("2026-12-01"), end: day("2026-12-31")))
        #expect(SubscriptionPeriod.due(kind: .monthly, at: newYear, timeZone: utc.timeZone, reportMinute: 60)?.start == day("2026-11-01"))
    }

    @Test("day arithmetic agrees with Foundation's Gregorian calendar over 1900-2200")
    func dayArithmetic() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var date = try #require(calendar.date(from: DateComponents(year: 1900, month: 1, day: 1)))
        var local = LocalDate(year: 1900, month: 1, day: 1)
        var mismatches: [String] = []
        while local.year < 2200 && mismatches.count < 5 {
            let c = calendar.dateComponents([.year, .month, .day, .weekday], from: date)
            let expected = LocalDate(year: c.year!, month: c.month!, day: c.day!)
            // Foundation: 1 = Sunday ... 7 = Saturday; ISO: 1 = Monday ... 7 = Sunday.
            if local != expected || SubscriptionPeriod.isoWeekday(local) != (c.weekday! + 5) % 7 + 1 { mismatches.append("\(local) vs \(expected)") }
            date = calendar.date(byAdding: .day, value: 1, to: date)!
            local = SubscriptionPeriod.day(local, plus: 1)
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
        #expect(SubscriptionPeriod.day(LocalDate(year: 2026, month: 3, day: 1), plus: -1) == LocalDate(year: 2026, month: 2, day: 28))
    }

    @Test("emails write the period's days as 23/11–29/11/2026, the year twice across a new year")
    func dayRange() {
        #expect(SubscriptionPeriod(kind: .weekly, start: day("2026-11-23"), end: day("2026-11-29")).dayRange == "23/11\u{2013}29/11/2026")
        #expect(SubscriptionPeriod(kind: .weekly, start: day("2026-12-28"), end: day("2027-01-03")).dayRange == "28/12/2026\u{2013}03/01/2027")
        #expect(SubscriptionPeriod(kind: .monthly, start: day("2026-02-01"), end: day("2026-02-28")).dayRange == "01/02\u{2013}28/02/2026")
    }
}
