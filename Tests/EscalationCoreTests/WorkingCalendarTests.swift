import EscalationCore
import Foundation
import EscalationTestSupport
import Testing

/// Mon-Fri 07:30-11:30 and 13:30-17:00 in Asia/Ho_Chi_Minh, National Day 2025 (1-2 September)
/// and New Year 2026 off, Saturday 21 June 2025 a make-up morning.
func vietnamCalendar() throws -> WorkingCalendar {
    let day = [WorkingHours("07:30-11:30")!, WorkingHours("13:30-17:00")!]
    return try WorkingCalendar(
        timeZone: "Asia/Ho_Chi_Minh",
        weekly: [2: day, 3: day, 4: day, 5: day, 6: day],
        holidays: [LocalDate("2025-09-01")!, LocalDate("2025-09-02")!, LocalDate("2026-01-01")!],
        extraDays: [LocalDate("2025-06-21")!: [WorkingHours("07:30-11:30")!]]
    )
}

/// An instant given as local time in Vietnam (UTC+7, no daylight saving).
func vn(_ text: String) -> Date {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "Asia/Ho_Chi_Minh")
    formatter.dateFormat = "yyyy-MM-dd HH:mm"
    return formatter.date(from: text)!
}


@Suite("Working-hours deadlines")
struct WorkingCalendarTests {
    @Test("table: midday break, end of day, weekend, holidays, make-up Saturday, month and year ends", arguments: [
        ("2025-06-16 09:00", 4 * 60, "2025-06-16 15:00"),   // Monday: 2h30 before the break, 1h30 after
        ("2025-06-16 09:30", 2 * 60, "2025-06-16 11:30"),   // ends exactly at the break
        ("2025-06-16 12:00", 30, "2025-06-16 14:00"),       // starts inside the break
        ("2025-06-16 06:00", 60, "2025-06-16 08:30"),       // starts before work
        ("2025-06-17 16:00", 2 * 60, "2025-06-18 08:30"),   // overnight
        ("2025-06-13 16:00", 2 * 60, "2025-06-16 08:30"),   // Friday to Monday
        ("2025-06-14 10:00", 60, "2025-06-16 08:30"),       // starts on a Saturday
        ("2025-06-20 16:30", 60, "2025-06-21 08:00"),       // make-up Saturday morning
        ("2025-06-21 11:00", 60, "2025-06-23 08:00"),       // the make-up morning ends at 11:30
        ("2025-08-29 16:00", 2 * 60, "2025-09-03 08:30"),   // over the National Day holidays
        ("2025-10-31 17:00", 30, "2025-11-03 08:00"),       // month end on a Friday evening
        ("2025-12-31 16:00", 2 * 60, "2026-01-02 08:30"),   // year end, New Year's Day off
        ("2025-06-16 07:30", 5 * 450, "2025-06-20 17:00"),    // a working week (5 x 7h30)
        ("2025-06-16 07:30", 5 * 450 + 240, "2025-06-21 11:30"), // plus the make-up Saturday morning
    ])
    func table(start: String, minutes: Int, expected: String) throws {
        let calendar = try vietnamCalendar()
        #expect(calendar.due(from: vn(start), seconds: minutes * 60) == vn(expected))
        #expect(calendar.workingSeconds(from: vn(start), to: vn(expected)) == minutes * 60)
    }

    @Test("zero duration is the start itself; urgent issues count every hour")
    func zeroAndContinuous() throws {
        let calendar = try vietnamCalendar()
        #expect(calendar.due(from: vn("2025-06-14 10:00"), seconds: 0) == vn("2025-06-14 10:00"))
        let urgent = try WorkingCalendar.continuous(timeZone: "Asia/Ho_Chi_Minh")
        #expect(urgent.due(from: vn("2025-06-14 22:15"), seconds: 3 * 3600) == vn("2025-06-15 01:15"))
        #expect(urgent.workingSeconds(from: vn("2025-12-31 20:00"), to: vn("2026-01-01 04:00")) == 8 * 3600)
    }

    @Test("local working hours hold across a daylight-saving change")
    func daylightSaving() throws {
        let day = [WorkingHours("09:00-17:00")!]
        let calendar = try WorkingCalendar(timeZone: "America/New_York", weekly: [2: day, 3: day, 4: day, 5: day, 6: day])
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "America/New_York")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        // Clocks go forward on Sunday 9 March 2025: Friday 16:00 + 2h is Monday 10:00 local time.
        #expect(calendar.due(from: formatter.date(from: "2025-03-07 16:00")!, seconds: 7200) == formatter.date(from: "2025-03-10 10:00")!)
    }

    @Test("bad calendars are refused with a reason")
    func invalid() {
        let day = [WorkingHours("07:30-11:30")!]
        #expect(throws: WorkingCalendar.Problem.unknownTimeZone("Asia/Lao_Cai")) {
            try WorkingCalendar(timeZone: "Asia/Lao_Cai", weekly: [2: day])
        }
        #expect(throws: WorkingCalendar.Problem.overlappingHours(weekday: 2)) {
            try WorkingCalendar(timeZone: "UTC", weekly: [2: [WorkingHours("08:00-12:00")!, WorkingHours("11:00-14:00")!]])
        }
        #expect(throws: WorkingCalendar.Problem.noWorkingTime) {
            try WorkingCalendar(timeZone: "UTC", weekly: [:])
        }
        #expect(WorkingHours("17:00-07:30") == nil)
        #expect(WorkingHours("7:30-11:30") == nil)
        #expect(WorkingHours("07:30-24:01") == nil)
        #expect(LocalDate("2025-02-29") == nil)
        #expect(LocalDate("2024-02-29") != nil)
    }

    @Test("laws, over 2,000 seeded random starts and durations: due is never in non-working time; a then b equals a + b; workingSeconds inverts due; due is monotone in the start")
    func laws() throws {
        let calendar = try vietnamCalendar()
        var random = SeededGenerator(state: 20250617)
        let origin = vn("2025-06-01 00:00")
        for _ in 0..<2000 {
            let start = origin.addingTimeInterval(Double(Int.random(in: 0...(240 * 86400), using: &random)))
            let a = Int.random(in: 1...(60 * 3600), using: &random)
            let b = Int.random(in: 1...(60 * 3600), using: &random)
            let dueA = try #require(calendar.due(from: start, seconds: a))
            // The second before a due time is working time: a due time never falls in a break, a night or a holiday.
            #expect(calendar.isWorking(dueA.addingTimeInterval(-1)), "\(start) + \(a)s = \(dueA)")
            #expect(calendar.due(from: dueA, seconds: b) == calendar.due(from: start, seconds: a + b))
            #expect(calendar.workingSeconds(from: start, to: dueA) == a)
            let later = start.addingTimeInterval(Double(Int.random(in: 0...(3 * 86400), using: &random)))
            #expect(try #require(calendar.due(from: later, seconds: a)) >= dueA)
        }
    }
}
