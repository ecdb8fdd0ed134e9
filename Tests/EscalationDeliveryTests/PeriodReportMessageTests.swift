import EscalationCore
import EscalationDelivery
import Foundation
import Testing

/// Periodic report emails composed from their outbox items, without a database.
@Suite("Periodic report emails")
struct PeriodReportMessageTests {
    static func item(to code: String, period: String = "weekly", from: String = "2026-11-23", to: String = "2026-11-29") -> OutboxItem {
        OutboxItem(id: 43, kind: "report", recipientKind: .person, recipientCode: code, channel: .email, data: .object([
            "report_id": .number(5), "group": .string("board"), "period": .string(period), "from": .string(from), "to": .string(to),
            "figures": .object(["received": .number(120), "acknowledged_on_time": .number(100), "resolved_on_time": .number(80),
                                "overdue": .number(7)]),
        ]))
    }

    @Test("a weekly report reads Vietnamese first (NFC), English for locale en, with the headline figures and the report page's link for the week")
    func weekly() throws {
        let composer = try MessageComposerTests.composer()
        let message = try composer.email(for: Self.item(to: "m-north"), directory: MessageComposerTests.directory,
                                         from: MessageComposerTests.from, date: MessageComposerTests.date).get()
        #expect(message.to.map(\.address) == ["a@example.org"])
        let subject = "[escalated] Báo cáo tuần 23/11\u{2013}29/11/2026: 120 phản ánh, 7 quá hạn"
        #expect(message.subject == subject)
        #expect(message.subject.unicodeScalars.elementsEqual(subject.precomposedStringWithCanonicalMapping.unicodeScalars))
        #expect(message.text.contains("Báo cáo tuần 23/11\u{2013}29/11/2026 cho Thường trực."), "\(message.text)")
        for line in ["Phản ánh nhận được: 120", "Tiếp nhận đúng hạn: 100", "Giải quyết đúng hạn: 80", "Còn quá hạn: 7",
                     "https://escalated.example.org/report?from=2026-11-23&to=2026-11-29"] {
            #expect(message.text.contains(line), "\(line) in \(message.text)")
        }
        #expect(message.html?.contains("<a href=\"https://escalated.example.org/report?from=2026-11-23&amp;to=2026-11-29\">") == true,
                "\(message.html ?? "")")
        #expect(message.messageID == "escalated.d43@example.org")
        #expect(message.extraHeaders.first { $0.0 == "X-Escalated-Kind" }?.1 == "report")

        let english = try composer.email(for: Self.item(to: "it"), directory: MessageComposerTests.directory,
                                         from: MessageComposerTests.from, date: MessageComposerTests.date).get()
        #expect(english.subject == "[escalated] Weekly report 23/11\u{2013}29/11/2026: 120 reports, 7 overdue")
        #expect(english.text.contains("Still overdue: 7"))
        #expect(english.text.contains("Acknowledged on time: 100"))
    }

    @Test("a monthly report names the month's days; across a new year both years are written")
    func monthly() throws {
        let composer = try MessageComposerTests.composer()
        let message = try composer.email(for: Self.item(to: "it", period: "monthly", from: "2026-11-01", to: "2026-11-30"),
                                         directory: MessageComposerTests.directory, from: MessageComposerTests.from).get()
        #expect(message.subject == "[escalated] Monthly report 01/11\u{2013}30/11/2026: 120 reports, 7 overdue")
        #expect(message.text.contains("https://escalated.example.org/report?from=2026-11-01&to=2026-11-30"))
        let week = try composer.email(for: Self.item(to: "m-north", from: "2026-12-28", to: "2027-01-03"),
                                      directory: MessageComposerTests.directory, from: MessageComposerTests.from).get()
        #expect(week.subject == "[escalated] Báo cáo tuần 28/12/2026\u{2013}03/01/2027: 120 phản ánh, 7 quá hạn")
    }

    @Test("a report without its figures, or for a person without an address, can never be sent and says why")
    func unsendable() throws {
        let composer = try MessageComposerTests.composer()
        func reason(_ item: OutboxItem) -> String? {
            if case .failure(let error) = composer.email(for: item, directory: MessageComposerTests.directory, from: MessageComposerTests.from) {
                return error.text
            }
            return nil
        }
        var item = Self.item(to: "m-north")
        item.data = .object(["group": .string("board")])
        #expect(reason(item) == "the periodic report's figures are missing")
        #expect(reason(Self.item(to: "no-mail")) == "no email address for person 'no-mail' in the directory")
    }
}
