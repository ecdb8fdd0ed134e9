import EscalationCore
import EscalationStore
import Foundation
@testable import EscalationWeb
import Testing

@Suite("Web: the time left or past on a list")
struct TimeTextTests {
    /// No calendar anywhere: every hour counts (a continuous policy).
    let continuous = WebFixtures.laoCai(calendar: false)
    let now = Date(timeIntervalSince1970: 1_796_100_000)

    func text(_ due: Date?, directory: Directory? = nil, severity: Severity = .normal, locale: PersonLocale = .vi, now: Date? = nil) -> (text: String, overdue: Bool) {
        let directory = directory ?? continuous
        let now = now ?? self.now
        return WebApp.timeText(WebFixtures.issue(id: 1, severity: severity, dueAt: due), wording: Wording(locale: locale, directory: directory),
                               policy: EscalationPolicy(directory: directory, now: now), now: now)
    }

    @Test("Due in 2 h 30 min: còn 2 giờ 30 phút làm việc")
    func left() {
        let result = text(now.addingTimeInterval(2 * 3600 + 30 * 60))
        #expect(result.text == "còn 2 giờ 30 phút làm việc")
        #expect(!result.overdue)
        #expect(text(now.addingTimeInterval(2 * 3600 + 30 * 60), locale: .en).text == "2 h 30 min of working time left")
    }

    @Test("1 day 3 h overdue: quá hạn 1 ngày 3 giờ")
    func overdue() {
        let result = text(now.addingTimeInterval(-(86_400 + 3 * 3600)))
        #expect(result.text == "quá hạn 1 ngày 3 giờ")
        #expect(result.overdue)
        #expect(text(now.addingTimeInterval(-(86_400 + 3 * 3600)), locale: .en).text == "overdue by 1 day 3 h")
    }

    @Test("Durations are rounded down to the smaller unit shown")
    func roundedDown() {
        #expect(text(now.addingTimeInterval(2 * 3600 + 30 * 60 + 59)).text == "còn 2 giờ 30 phút làm việc")
        #expect(text(now.addingTimeInterval(-(86_400 + 3 * 3600 + 59 * 60))).text == "quá hạn 1 ngày 3 giờ")
        #expect(text(now.addingTimeInterval(30)).text == "còn dưới 1 phút làm việc")
    }

    @Test("A deadline that is now is overdue")
    func dueNow() {
        let result = text(now)
        #expect(result.overdue)
        #expect(result.text == "quá hạn 0 phút")
    }

    @Test("No deadline: nothing")
    func none() {
        let result = text(nil)
        #expect(result.text == "")
        #expect(!result.overdue)
    }

    @Test("On office hours only working time counts; urgent issues count every hour")
    func officeHours() {
        let office = WebFixtures.laoCai()
        // Monday 7 December 2026 14:30 in Vietnam, due at 17:00: 2 h 30 min of work.
        let monday1430 = Date(timeIntervalSince1970: 1_796_628_600), monday1700 = Date(timeIntervalSince1970: 1_796_637_600)
        #expect(text(monday1700, directory: office, now: monday1430).text == "còn 2 giờ 30 phút làm việc")
        // Friday 16:00, due Monday 09:30: 1 h on Friday, 2 h on Monday, none at the weekend.
        let friday1600 = Date(timeIntervalSince1970: 1_796_374_800), monday0930 = Date(timeIntervalSince1970: 1_796_610_600)
        #expect(text(monday0930, directory: office, now: friday1600).text == "còn 3 giờ làm việc")
        #expect(text(monday0930, directory: office, severity: .urgent, now: friday1600).text == "còn 2 ngày 17 giờ làm việc")
        // Overdue time is time since the deadline, whatever the calendar.
        #expect(text(friday1600, directory: office, now: monday0930).text == "quá hạn 2 ngày 17 giờ")
    }

    @Test("A list row: names for codes, local time, the level shown from 1")
    func row() {
        let directory = WebFixtures.laoCai()
        let wording = Wording(locale: .vi, directory: directory)
        let policy = EscalationPolicy(directory: directory, now: now)
        let created = Date(timeIntervalSince1970: 1_796_000_000)   // 30/11/2026 07:53 in Vietnam
        let issue = WebFixtures.issue(id: 42, unit: "LC-SAPA-01", sector: "finance", severity: .urgent, state: .acknowledged,
                                      createdAt: created, dueAt: now.addingTimeInterval(-3600), level: 2)
        let row = WebApp.row(issue, wording: wording, policy: policy, now: now)
        #expect(row["id"] as? String == "42")
        #expect(row["href"] as? String == "/issues/42")
        #expect(row["unit"] as? String == "Phường mẫu 01 (Thị xã Sa Pa)")
        #expect(row["sector"] as? String == "Tài chính, ngân sách")
        #expect(row["state"] as? String == "Đang xử lý")
        #expect(row["state_code"] as? String == "acknowledged")
        #expect(row["urgent"] as? Bool == true)
        #expect(row["severity"] as? String == "Khẩn")
        #expect(row["level"] as? String == "2")
        #expect(row["time"] as? String == "quá hạn 1 giờ")
        #expect(row["overdue"] as? Bool == true)
        #expect(row["row_class"] as? String == "late urgent")
        let first = WebApp.row(WebFixtures.issue(id: 43, dueAt: nil, level: 0), wording: wording, policy: policy, now: now)
        #expect(first["level"] as? Bool == false, "level 0 shows nothing")
        #expect(first["time"] as? String == "" && first["overdue"] as? Bool == false)
        #expect(first["row_class"] as? String == (WebFixtures.issue(id: 43, dueAt: nil, level: 0).severity == .urgent ? "urgent" : ""))
    }
}
