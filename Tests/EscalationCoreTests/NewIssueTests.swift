import EscalationCore
import Testing

@Suite("Report validation")
struct NewIssueTests {
    func make(unit: String = "N1", sector: String = "land", severity: String? = nil, title: String = "Thiếu máy tính",
              description: String? = nil, reporter: String? = nil) throws(FieldError) -> NewIssue {
        try NewIssue.validated(unit: unit, sector: sector, severity: severity, title: title, description: description, reporter: reporter)
    }

    func field(_ body: () throws -> NewIssue) -> String? {
        do { _ = try body(); return nil } catch { return (error as? FieldError)?.field ?? "not a FieldError" }
    }

    @Test("a good report is trimmed and defaults to normal severity")
    func good() throws {
        let issue = try make(title: "  Chậm cấp giấy chứng nhận  ", description: "Dòng 1\nDòng 2\t", reporter: " UBND xã ")
        #expect(issue.title == "Chậm cấp giấy chứng nhận")
        #expect(issue.description == "Dòng 1\nDòng 2")
        #expect(issue.reporter == "UBND xã")
        #expect(issue.severity == .normal)
        #expect(try make(severity: "urgent").severity == .urgent)
        #expect(try make(reporter: "   ").reporter == nil)
    }

    @Test("each bad field is named")
    func bad() {
        #expect(field { try make(unit: "") } == "unit")
        #expect(field { try make(unit: "a b") } == "unit")
        #expect(field { try make(sector: "x;y") } == "sector")
        #expect(field { try make(severity: "critical") } == "severity")
        #expect(field { try make(title: "") } == "title")
        #expect(field { try make(title: " \n\t ") } == "title")
        #expect(field { try make(title: "two\nlines") } == "title")
        #expect(field { try make(title: "nul\u{0}") } == "title")
        #expect(field { try make(title: String(repeating: "ệ", count: 201)) } == "title")
        #expect(field { try make(description: String(repeating: "a", count: 10_001)) } == "description")
        #expect(field { try make(description: "bell\u{7}") } == "description")
        #expect(field { try make(reporter: String(repeating: "b", count: 201)) } == "reporter")
        #expect(field { try make(reporter: "a\rb") } == "reporter")
    }

    @Test("limits are inclusive and count code points")
    func limits() throws {
        #expect(try make(title: String(repeating: "ệ", count: 200)).title.unicodeScalars.count == 200)
        #expect(try make(description: String(repeating: "a", count: 10_000)).description.count == 10_000)
    }
}

@Suite("Durations")
struct DurationTextTests {
    @Test("parses d, h, m, s largest first", arguments: [("4h", 14400), ("90m", 5400), ("1h30m", 5400), ("2d", 172_800), ("1d2h3m4s", 93784), ("45s", 45)])
    func parses(text: String, seconds: Int) {
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test("refuses the rest", arguments: ["", "h", "4", "0m", "30m1h", "1h1h", "-4h", "4 h", "4H", "1.5h", "999999999h", "367d", "0s", "1s1m"])
    func refuses(text: String) {
        #expect(DurationText.seconds(text) == nil)
    }

    @Test("format round-trips through parse for every second up to a day, and every minute up to 10 days")
    func roundTrip() {
        for seconds in Array(1...86400) + (1...(10 * 24 * 60)).map({ $0 * 60 }) {
            #expect(DurationText.seconds(DurationText.format(seconds: seconds)) == seconds)
        }
    }
}
