import EscalationCore
import EscalationDelivery
import Foundation
import Testing

/// The composer over outbox items, without a database: who an email goes to, in which language,
/// what it says, and why an item cannot be sent.
@Suite("Message composer")
struct MessageComposerTests {
    static let from = MailAddress(name: "escalated", address: "escalated@example.org")!
    static let date = Date(timeIntervalSince1970: 1_750_000_000)
    /// 2025-06-15 15:06:40 UTC, 22:06 in Hà Nội.
    static let due = Date(timeIntervalSince1970: 1_750_000_000)

    static let directory = Directory(
        people: [
            Person(code: "m-north", name: "Nguyễn Văn A", email: "a@example.org"),
            Person(code: "it", name: "IT Officer", email: "it@example.org", locale: .en),
            Person(code: "no-mail", name: "Không có thư"),
        ],
        areas: [Area(code: "north", name: "Khu vực Bắc", member: "m-north")],
        units: [Unit(code: "N1", name: "Xã Sa Pa", kind: .commune, area: "north")],
        agencies: [
            Agency(code: "land-dept", name: "Sở Nông nghiệp và Môi trường", emails: ["land@example.org", "land2@example.org"],
                   webhook: "https://land.example.org/hook"),
            Agency(code: "silent", name: "Sở Im Lặng"),
        ],
        sectors: [Sector(code: "land", nameVi: "Đất đai", nameEn: "Land", agency: "land-dept")],
        calendars: [CalendarDefinition(code: "vn", timeZone: "Asia/Ho_Chi_Minh", weekly: [:])],
        groups: [SupervisorGroup(code: "board", name: "Thường trực", members: ["m-north", "it"])],
        defaults: EscalationDefaults(calendar: "vn")
    )

    static func composer() throws -> MessageComposer {
        MessageComposer(templates: try MessageTemplates.bundled(), publicURL: "https://escalated.example.org")
    }

    static func item(_ kind: String, to recipient: Notified, channel: DeliveryChannel = .email, data: JSONValue = .object([:])) -> OutboxItem {
        OutboxItem(id: 42, kind: kind, recipientKind: recipient.kind, recipientCode: recipient.code, channel: channel, data: data,
                   issueID: 7, title: "Chậm cấp giấy <b>chứng nhận</b>", description: "Hồ sơ tồn đọng", unit: "N1", sector: "land",
                   severity: .urgent, acknowledgeDue: due, resolveDue: due.addingTimeInterval(86400), agency: "land-dept")
    }

    @Test("a routed message goes to every address of the agency, in Vietnamese, with the unit's and sector's names, local times and the issue's link")
    func routed() throws {
        let message = try Self.composer().email(for: Self.item("routed", to: Notified(kind: .agency, code: "land-dept")),
                                                directory: Self.directory, from: Self.from, date: Self.date).get()
        #expect(message.to.map(\.address) == ["land@example.org", "land2@example.org"])
        #expect(message.subject == "[escalated #7] Phản ánh mới: Chậm cấp giấy <b>chứng nhận</b> (Xã Sa Pa)")
        #expect(message.text.contains("Kính gửi Sở Nông nghiệp và Môi trường,"))
        #expect(message.text.contains("lĩnh vực Đất đai (khẩn)"))
        #expect(message.text.contains("Hạn tiếp nhận: 15/06/2025 22:06"))
        #expect(message.text.contains("Hạn giải quyết: 16/06/2025 22:06"))
        #expect(message.text.contains("Xem và xử lý: https://escalated.example.org/issues/7"))
        // The HTML part escapes the title; the plain parts keep it as written.
        let html = try #require(message.html)
        #expect(html.contains("Chậm cấp giấy &lt;b&gt;chứng nhận&lt;/b&gt;") && !html.contains("<b>chứng"))
        #expect(message.messageID == "escalated.7.d42@example.org")
        #expect(message.extraHeaders.map(\.0) == ["X-Escalated-Issue", "X-Escalated-Kind"])
        #expect(message.date == Self.date)
    }

    @Test("an escalation to a person reads in their language and names the level and the missed deadline")
    func escalatedInEnglish() throws {
        let data: JSONValue = .object(["level": .number(2), "repeat": .number(0), "clock": .string("acknowledge")])
        var item = Self.item("escalated", to: Notified(kind: .person, code: "it"), data: data)
        item.escalationDue = Self.due
        let message = try Self.composer().email(for: item, directory: Self.directory, from: Self.from, date: Self.date).get()
        #expect(message.to.map(\.address) == ["it@example.org"])
        #expect(message.subject == "[escalated #7] Overdue, not acknowledged (level 2): Chậm cấp giấy <b>chứng nhận</b>")
        #expect(message.text.contains("was not acknowledged by 15 Jun 2025 22:06"), "\(message.text)")
    }

    @Test("what can never be sent says why: a recipient gone from the directory, one without an address, a digest without its report")
    func unsendable() throws {
        let composer = try Self.composer()
        func reason(_ item: OutboxItem) -> String? {
            if case .failure(let error) = composer.email(for: item, directory: Self.directory, from: Self.from) { return error.text }
            return nil
        }
        #expect(reason(Self.item("routed", to: Notified(kind: .agency, code: "gone"))) == "agency 'gone' is no longer in the directory")
        #expect(reason(Self.item("routed", to: Notified(kind: .person, code: "gone"))) == "person 'gone' is no longer in the directory")
        #expect(reason(Self.item("routed", to: Notified(kind: .agency, code: "silent"))) == "no email address for agency 'silent' in the directory")
        #expect(reason(Self.item("escalated", to: Notified(kind: .person, code: "no-mail"))) == "no email address for person 'no-mail' in the directory")
        #expect(reason(Self.item("digest", to: Notified(kind: .person, code: "m-north"))) == "the digest's report is missing")
        #expect(reason(Self.item("unknown-kind", to: Notified(kind: .person, code: "m-north"))) == "no template for vi.unknown-kind")
    }

    @Test("a digest goes to the one member, with the group's headline figures and its day written the reader's way (15/06/2025, 15 Jun 2025), and no issue in its Message-ID")
    func digest() throws {
        let report: JSONValue = .object([
            "totals": .object(["open": .number(12), "overdue": .number(3), "resolved": .number(4)]),
            "by_unit": .array([]), "by_area": .array([]), "by_agency": .array([]), "oldest_overdue": .array([]),
        ])
        var item = Self.item("digest", to: Notified(kind: .person, code: "m-north"),
                             data: .object(["group": .string("board"), "day": .string("2025-06-15"), "report": report]))
        item.issueID = nil
        let message = try Self.composer().email(for: item, directory: Self.directory, from: Self.from, date: Self.date).get()
        #expect(message.to.map(\.address) == ["a@example.org"])
        #expect(message.subject == "[escalated] Báo cáo ngày 15/06/2025: 12 đang xử lý, 3 quá hạn")
        #expect(message.text.contains("Báo cáo ngày 15/06/2025 cho Thường trực."))
        #expect(message.html?.contains("<p>Báo cáo ngày 15/06/2025 cho Thường trực.</p>") == true)
        #expect(message.messageID == "escalated.d42@example.org")
        #expect(message.extraHeaders.first { $0.0 == "X-Escalated-Digest-Group" }?.1 == "board")
        // A member who reads English gets the day the English way.
        item.recipientCode = "it"
        let english = try Self.composer().email(for: item, directory: Self.directory, from: Self.from, date: Self.date).get()
        #expect(english.subject == "[escalated] Digest of 15 Jun 2025: 12 open, 3 overdue")
        #expect(english.text.contains("Digest of 15 Jun 2025 for Thường trực."))
        // A day that is not a date is shown as it came.
        item.data = .object(["group": .string("board"), "day": .string("hôm nay"), "report": report])
        let odd = try Self.composer().email(for: item, directory: Self.directory, from: Self.from, date: Self.date).get()
        #expect(odd.subject == "[escalated] Digest of hôm nay: 12 open, 3 overdue")
    }

    @Test("a digest's durations and times read as Wording writes them: two units at most, dd/MM/yyyy HH:mm local time in Vietnamese")
    func digestFigures() throws {
        let report: JSONValue = .object([
            "totals": .object(["open": .number(1), "overdue": .number(1), "resolved": .number(0)]),
            "time_to_acknowledge": .object(["median_seconds": .number(5400.4), "p90_seconds": .number(97_200 + 1800)]),
            "time_to_resolve": .object(["median_seconds": .null]),
            "by_unit": .array([]), "by_area": .array([]), "by_agency": .array([]),
            "oldest_overdue": .array([.object([
                "id": .number(7), "title": .string("Chậm cấp giấy"), "unit": .string("N1"),
                "due_at": .string("2025-06-15T15:06:40.123456+00:00"), "level": .number(2),
            ])]),
        ])
        var item = Self.item("digest", to: Notified(kind: .person, code: "m-north"),
                             data: .object(["group": .string("board"), "day": .string("2025-06-15"), "report": report]))
        item.issueID = nil
        let vi = try Self.composer().email(for: item, directory: Self.directory, from: Self.from, date: Self.date).get()
        #expect(vi.text.contains("Thời gian tiếp nhận (30 ngày): trung vị 1 giờ 30 phút, 90% trong 1 ngày 3 giờ"), "\(vi.text)")
        #expect(vi.text.contains("Thời gian giải quyết (30 ngày): trung vị chưa có số liệu"), "\(vi.text)")
        #expect(vi.text.contains("  #7 Chậm cấp giấy (Xã Sa Pa), hạn 15/06/2025 22:06, cấp 2: https://escalated.example.org/issues/7"), "\(vi.text)")
        item.recipientCode = "it"
        let en = try Self.composer().email(for: item, directory: Self.directory, from: Self.from, date: Self.date).get()
        #expect(en.text.contains("Time to acknowledge (30 days): median 1 h 30 min, 90% within 1 day 3 h"), "\(en.text)")
        #expect(en.text.contains("  #7 Chậm cấp giấy (Xã Sa Pa), due 15 Jun 2025 22:06, level 2:"), "\(en.text)")
    }

    @Test("a webhook goes to the agency's URL with the delivery, the issue (its link, the unit's name, RFC 3339 times), the recipient and the event, keys sorted")
    func webhook() throws {
        let composer = try Self.composer()
        let item = Self.item("escalated", to: Notified(kind: .agency, code: "land-dept"), channel: .webhook,
                             data: .object(["level": .number(1), "repeat": .number(0)]))
        let post = try composer.webhook(for: item, directory: Self.directory).get()
        #expect(post.url == "https://land.example.org/hook")
        let body = try #require(try JSONSerialization.jsonObject(with: post.body) as? [String: Any])
        #expect(body["delivery_id"] as? Int == 42 && body["kind"] as? String == "escalated")
        let issue = try #require(body["issue"] as? [String: Any])
        #expect(issue["url"] as? String == "https://escalated.example.org/v1/issues/7")
        #expect(issue["unit_name"] as? String == "Xã Sa Pa")
        #expect(issue["acknowledge_due_at"] as? String == "2025-06-15T15:06:40.000Z")
        #expect((body["recipient"] as? [String: String]) == ["kind": "agency", "code": "land-dept"])
        #expect((body["event"] as? [String: Int]) == ["level": 1, "repeat": 0])
        let text = String(decoding: post.body, as: UTF8.self)
        #expect(text.hasPrefix(#"{"delivery_id":42,"event":"#))
        if case .failure(let error) = composer.webhook(for: Self.item("routed", to: Notified(kind: .agency, code: "silent"), channel: .webhook),
                                                       directory: Self.directory) {
            #expect(error.text == "no webhook for agency 'silent' in the directory")
        } else {
            Issue.record("an agency without a webhook got one")
        }
    }

    @Test("links are made under the public URL with or without its trailing slash")
    func links() throws {
        let templates = try MessageTemplates.bundled()
        #expect(MessageComposer(templates: templates, publicURL: "http://h:8080").issueLink(3) == "http://h:8080/v1/issues/3")
        #expect(MessageComposer(templates: templates, publicURL: "http://h:8080/").issueLink(3) == "http://h:8080/v1/issues/3")
        #expect(MessageComposer(templates: templates, publicURL: "http://h:8080/").pageLink(3) == "http://h:8080/issues/3")
    }
}
