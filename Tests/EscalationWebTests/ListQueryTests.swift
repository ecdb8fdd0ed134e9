import EscalationCore
import EscalationStore
import Foundation
@testable import EscalationWeb
import Testing

@Suite("Web: reading a list's query")
struct ListQueryTests {
    let directory = WebFixtures.laoCai()

    func read(_ q: [String: String], locale: PersonLocale = .vi) -> WebApp.ListQuery {
        WebApp.readListQuery(q, pageSize: 50, directory: directory, locale: locale)
    }

    @Test("The sample's time zone is Vietnam's")
    func timeZone() {
        #expect(directory.timeZone.identifier == "Asia/Ho_Chi_Minh")
        #expect(directory.units.count == 48 && directory.areas.count == 9 && directory.sectors.count == 11)
    }

    @Test("By default: open issues, the running deadline first, no error")
    func defaults() {
        let query = read([:])
        #expect(query.view == "open")
        #expect(query.filter.openOnly)
        #expect(query.filter.sort == .due)
        #expect(query.filter.limit == 50)
        #expect(query.filter.state == nil && query.filter.unit == nil && query.filter.since == nil && query.filter.words == nil && query.filter.cursor == nil)
        #expect(!query.filter.overdue)
        #expect(query.errors.isEmpty && query.form.isEmpty)
        #expect(WebApp.readListQuery([:], pageSize: 20, directory: directory, locale: .vi).filter.limit == 20)
    }

    @Test("view=all: every state, newest first")
    func viewAll() {
        let query = read(["view": "all"])
        #expect(query.view == "all" && !query.filter.openOnly && query.filter.sort == .newest)
        #expect(read(["view": "everything"]).view == "open")
    }

    @Test("An open state lists by deadline, as the inbox does; the others newest first", arguments: [
        ("routed", IssueSort.due), ("acknowledged", .due), ("reopened", .due), ("unroutable", .newest), ("resolved", .newest), ("closed", .newest), ("reported", .newest),
    ])
    func stateOrder(state: String, sort: IssueSort) {
        let query = read(["state": state])
        #expect(query.filter.state?.rawValue == state && query.filter.sort == sort)
    }

    @Test("state=resolved: view all, that state, newest first")
    func state() {
        let query = read(["state": "resolved"])
        #expect(query.view == "all")
        #expect(query.filter.state == .resolved)
        #expect(!query.filter.openOnly && query.filter.sort == .newest)
        #expect(query.form["state"] == "resolved")
        #expect(query.errors.isEmpty)
    }

    @Test("Known unit, area and sector filter the list")
    func knownCodes() {
        let query = read(["unit": "LC-SAPA-01", "area": "sa-pa", "sector": "land", "overdue": "1"])
        #expect(query.errors.isEmpty)
        #expect(query.filter.unit == "LC-SAPA-01" && query.filter.area == "sa-pa" && query.filter.sector == "land")
        #expect(query.filter.overdue && query.form["overdue"] == "1")
    }

    @Test("An unknown state, unit, area or sector is an error on that field, the value kept in the form", arguments: ["state", "unit", "area", "sector"])
    func unknown(field: String) {
        let typed = "không-có <b>"
        let vi = read([field: typed])
        #expect(vi.errors == [field: "Giá trị không hợp lệ."])
        #expect(vi.form[field] == typed)
        #expect(vi.filter.state == nil && vi.filter.unit == nil && vi.filter.area == nil && vi.filter.sector == nil)
        let en = read([field: typed], locale: .en)
        #expect(en.errors == [field: "This value is not valid."])
        #expect(en.form[field] == typed)
    }

    @Test("Codes are matched exactly (no case folding, no prefix)")
    func exactCodes() {
        #expect(read(["unit": "lc-sapa-01"]).errors["unit"] != nil)
        #expect(read(["unit": "LC-SAPA"]).errors["unit"] != nil)
        #expect(read(["state": "Resolved"]).errors["state"] != nil)
    }

    /// 2026-12-01 00:00 in Vietnam (UTC+7) is 2026-11-30 17:00 UTC.
    static let firstOfDecember = Date(timeIntervalSince1970: 1_796_058_000)

    @Test("since: yyyy-MM-dd and dd/MM/yyyy are midnight in the directory's time zone", arguments: ["2026-12-01", "01/12/2026", "1/12/2026", " 01/12/2026 "])
    func since(text: String) throws {
        #expect(ISO8601DateFormatter().date(from: "2026-11-30T17:00:00Z") == Self.firstOfDecember)
        let query = read(["since": text])
        #expect(query.errors.isEmpty)
        #expect(query.filter.since == Self.firstOfDecember, "\(String(describing: query.filter.since))")
        #expect(query.form["since"] == text.trimmingCharacters(in: .whitespaces))
    }

    @Test("since: another directory's zone gives another instant")
    func sinceInUTC() {
        let utc = WebFixtures.laoCai(calendar: false)
        #expect(utc.timeZone.secondsFromGMT() == 0, "no calendar: UTC")
        let query = WebApp.readListQuery(["since": "01/12/2026"], pageSize: 50, directory: utc, locale: .vi)
        #expect(query.filter.since == Self.firstOfDecember.addingTimeInterval(7 * 3600))
    }

    @Test("since: a date that does not exist is refused", arguments: ["32/01/2026", "29/02/2026", "31/04/2026", "2026-13-01", "2026-02-30", "12/2026", "hôm qua", "01-12-2026"])
    func badSince(text: String) {
        let query = read(["since": text])
        #expect(query.errors["since"] == "Ngày phải viết dạng dd/mm/yyyy.", "\(text)")
        #expect(query.filter.since == nil)
        #expect(query.form["since"] == text)
        #expect(read(["since": text], locale: .en).errors["since"] == "Write the date as dd/mm/yyyy.")
    }

    @Test("since: 29/02 of a leap year is a day")
    func leapDay() {
        #expect(read(["since": "29/02/2028"]).errors.isEmpty)
    }

    @Test("q: up to 200 characters, counted as characters; longer is refused and kept")
    func words() {
        let two = String(repeating: "ệ", count: 200)
        #expect(two.utf8.count == 600)
        let ok = read(["q": two])
        #expect(ok.errors.isEmpty && ok.filter.words == two)
        let long = String(repeating: "a", count: 201)
        let refused = read(["q": long])
        #expect(refused.errors == ["q": "Nội dung quá dài."])
        #expect(refused.filter.words == nil)
        #expect(refused.form["q"] == long)
    }

    @Test("q: blank is absent, spaces around are trimmed, a + is a plus (the raw query was decoded before)")
    func wordsTrimmed() {
        #expect(read(["q": "  ống nước  "]).filter.words == "ống nước")
        #expect(read(["q": "1+1"]).filter.words == "1+1")
        #expect(read(["q": "   "]).filter.words == nil)
        #expect(read(["q": "   "]).form["q"] == nil)
    }

    @Test("after=d.MICROS.ID is read for the deadline order only")
    func dueCursor() {
        let open = read(["after": "d.1796058000000000.42"])
        #expect(open.filter.cursor == IssueCursor(sort: .due, dueMicros: 1_796_058_000_000_000, id: 42))
        #expect(read(["view": "all", "after": "d.1796058000000000.42"]).filter.cursor == nil)
        #expect(read(["state": "resolved", "after": "d.1796058000000000.42"]).filter.cursor == nil)
        #expect(read(["state": "routed", "after": "d.1796058000000000.42"]).filter.cursor == IssueCursor(sort: .due, dueMicros: 1_796_058_000_000_000, id: 42),
                "an open state lists by deadline")
    }

    @Test("after=n.ID is read for the newest-first order only")
    func newestCursor() {
        #expect(read(["view": "all", "after": "n.77"]).filter.cursor == IssueCursor(sort: .newest, id: 77))
        #expect(read(["state": "closed", "after": "n.77"]).filter.cursor == IssueCursor(sort: .newest, id: 77))
        #expect(read(["after": "n.77"]).filter.cursor == nil)
    }

    @Test("A malformed cursor is ignored (first page), never an error", arguments: ["d.x.1", "d.1", "d.1.2.3", "n.", "n.x", "x.1", "", "d..1", "n.1.2"])
    func badCursor(text: String) {
        for q in [["after": text], ["view": "all", "after": text]] {
            let query = read(q)
            #expect(query.filter.cursor == nil, "\(q)")
            #expect(query.errors.isEmpty)
        }
    }
}
