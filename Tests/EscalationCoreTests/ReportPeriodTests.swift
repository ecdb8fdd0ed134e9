import EscalationCore
import Testing

@Suite("Report periods")
struct ReportPeriodTests {
    let today = LocalDate("2026-12-02")!   // a Wednesday

    @Test("the named periods on a Wednesday: weeks run Monday to Sunday, months whole")
    func named() throws {
        func period(_ kind: String) throws -> (String, String) {
            let p = try ReportPeriod.resolve(kind: kind, from: nil, to: nil, today: today)
            return (p.first.description, p.last.description)
        }
        #expect(try period("this-week") == ("2026-11-30", "2026-12-06"))
        #expect(try period("last-week") == ("2026-11-23", "2026-11-29"))
        #expect(try period("this-month") == ("2026-12-01", "2026-12-31"))
        #expect(try period("last-month") == ("2026-11-01", "2026-11-30"))
        #expect(try ReportPeriod.resolve(kind: nil, from: nil, to: nil, today: today).kind == .thisWeek, "no period is this week")
    }

    @Test("weeks and months across a year's end, a leap February, and a Sunday")
    func edges() throws {
        let newYear = LocalDate("2027-01-01")!   // a Friday
        let week = try ReportPeriod.resolve(kind: "this-week", from: nil, to: nil, today: newYear)
        #expect(week.first.description == "2026-12-28" && week.last.description == "2027-01-03")
        let month = try ReportPeriod.resolve(kind: "last-month", from: nil, to: nil, today: newYear)
        #expect(month.first.description == "2026-12-01" && month.last.description == "2026-12-31")
        let leap = try ReportPeriod.resolve(kind: "this-month", from: nil, to: nil, today: LocalDate("2028-02-10")!)
        #expect(leap.last.description == "2028-02-29")
        let sunday = try ReportPeriod.resolve(kind: "this-week", from: nil, to: nil, today: LocalDate("2026-12-06")!)
        #expect(sunday.first.description == "2026-11-30", "Sunday ends the week it belongs to")
    }

    @Test("a custom period: both forms of date, days included, its previous period and its chart steps")
    func custom() throws {
        let p = try ReportPeriod.resolve(kind: "custom", from: "01/11/2026", to: "2026-11-10", today: today)
        #expect(p.days == 10)
        #expect(p.previous.first.description == "2026-10-22" && p.previous.last.description == "2026-10-31")
        #expect(p.steps.count == 11 && p.daily)
        let month = try ReportPeriod.resolve(kind: "custom", from: "2026-03-01", to: "2026-03-31", today: today)
        #expect(month.previous.first.description == "2026-02-01" && month.previous.last.description == "2026-02-28", "a whole month compares with the month before")
        let year = try ReportPeriod.resolve(kind: nil, from: "2026-01-01", to: "2026-12-31", today: today)
        #expect(year.kind == .custom && !year.daily && year.steps.first?.description == "2026-01-01" && year.steps.last?.description == "2027-01-01")
    }

    @Test("refusals name the field", arguments: [
        ("someday", "2026-01-01", "2026-01-02", ReportPeriod.Problem.unknownKind),
        ("custom", "", "2026-01-02", .badDate(field: "from")),
        ("custom", "2026-01-01", "31/02/2026", .badDate(field: "to")),
        ("custom", "9999-01-01", "9999-01-02", .outOfRange(field: "from")),
        ("custom", "2026-05-01", "2026-04-30", .reversed),
        ("custom", "2020-01-01", "2026-01-01", .tooLong),
        ("custom", "2025-01-01", "2026-01-02", .tooLong),
    ])
    func refused(kind: String, from: String, to: String, problem: ReportPeriod.Problem) {
        #expect(throws: problem) { try ReportPeriod.resolve(kind: kind, from: from, to: to, today: today) }
    }

    @Test("366 days is the longest period")
    func longest() throws {
        let p = try ReportPeriod.resolve(kind: "custom", from: "2024-01-01", to: "2024-12-31", today: today)
        #expect(p.days == 366)
    }
}
