import EscalationCore
import Foundation
import Testing

/// How pages, emails and digests say things: dates in the province's time, durations, labels,
/// and history rows as sentences, in Vietnamese and English, always NFC.
@Suite("Wording")
struct WordingTests {
    static let directory = Directory(
        people: [
            Person(code: "m-north", name: "Nguyễn Văn A"),
            Person(code: "p-chair", name: "Trần Thị Bình"),
            Person(code: "w-1", name: "Lê Văn Cường", locale: .en),
        ],
        areas: [Area(code: "north", name: "Khu vực Bắc", member: "m-north")],
        units: [Unit(code: "LC-SAPA-01", name: "Phường Sa Pa", kind: .ward, area: "north")],
        agencies: [Agency(code: "so-y-te", name: "Sở Y tế"), Agency(code: "so-xd", name: "Sở Xây dựng")],
        sectors: [Sector(code: "health", nameVi: "Y tế", nameEn: "Health", agency: "so-y-te")],
        calendars: [CalendarDefinition(code: "vn", timeZone: "Asia/Ho_Chi_Minh", weekly: [:])],
        groups: [SupervisorGroup(code: "board", name: "Thường trực")],
        defaults: EscalationDefaults(calendar: "vn")
    )
    static let vi = Wording(locale: .vi, directory: directory)
    static let en = Wording(locale: .en, directory: directory)
    /// 2026-12-01 07:05 UTC: 14:05 in Hà Nội.
    static let afternoon = Date(timeIntervalSince1970: 1_796_108_700)
    static let at = afternoon

    static func isNFC(_ s: String) -> Bool { s.unicodeScalars.elementsEqual(s.precomposedStringWithCanonicalMapping.unicodeScalars) }

    static func event(_ kind: String, _ actor: String, account: String? = nil, _ data: [String: JSONValue] = [:]) -> EventWording {
        EventWording(kind: kind, actor: actor, accountName: account, data: .object(data), at: at)
    }

    // MARK: Dates

    @Test("dates and times are local to the province (UTC+7), dd/MM/yyyy HH:mm in Vietnamese and d MMM yyyy HH:mm in English, across midnight too")
    func dates() throws {
        #expect(Self.vi.timeZone.identifier == "Asia/Ho_Chi_Minh")
        #expect(Self.vi.dateTime(Self.afternoon) == "01/12/2026 14:05")
        #expect(Self.en.dateTime(Self.afternoon) == "1 Dec 2026 14:05")
        #expect(Self.vi.date(Self.afternoon) == "01/12/2026")
        #expect(Self.en.date(Self.afternoon) == "1 Dec 2026")
        // 2026-11-30 17:30 UTC is already the next day in Hà Nội; 16:59 UTC is not.
        let pastMidnight = Date(timeIntervalSince1970: 1_796_059_800)
        let beforeMidnight = Date(timeIntervalSince1970: 1_796_057_940)
        #expect(Self.vi.dateTime(pastMidnight) == "01/12/2026 00:30")
        #expect(Self.vi.date(pastMidnight) == "01/12/2026")
        #expect(Self.vi.dateTime(beforeMidnight) == "30/11/2026 23:59")
        #expect(Self.en.dateTime(beforeMidnight) == "30 Nov 2026 23:59")
        // Single digits are padded in Vietnamese only.
        let january = Date(timeIntervalSince1970: 1_767_578_580)  // 2026-01-05 02:03 UTC
        #expect(Self.vi.dateTime(january) == "05/01/2026 09:03")
        #expect(Self.en.dateTime(january) == "5 Jan 2026 09:03")
        // A calendar day (a digest's) reads like a date.
        #expect(Self.vi.date(LocalDate(year: 2026, month: 12, day: 1)) == "01/12/2026")
        #expect(Self.en.date(LocalDate(year: 2026, month: 12, day: 1)) == "1 Dec 2026")
        // The same instant in UTC is the day before.
        let utc = Wording(locale: .vi, timeZone: try #require(TimeZone(identifier: "UTC")))
        #expect(utc.dateTime(pastMidnight) == "30/11/2026 17:30")
    }

    // MARK: Durations

    @Test("durations: at most two neighbouring units, largest first, rounded down; under a minute and nothing said as such")
    func durations() {
        let cases: [(Int, String, String)] = [
            (0, "0 phút", "0 min"),
            (1, "dưới 1 phút", "under 1 min"),
            (59, "dưới 1 phút", "under 1 min"),
            (60, "1 phút", "1 min"),
            (119, "1 phút", "1 min"),
            (45 * 60, "45 phút", "45 min"),
            (3600, "1 giờ", "1 h"),
            (2 * 3600 + 30 * 60, "2 giờ 30 phút", "2 h 30 min"),
            (2 * 3600 + 30 * 60 + 59, "2 giờ 30 phút", "2 h 30 min"),
            (86_400 + 3 * 3600, "1 ngày 3 giờ", "1 day 3 h"),
            // Rounded down: 1 day 3 h 59 min 59 s is still 1 day 3 h.
            (86_400 + 3 * 3600 + 3599, "1 ngày 3 giờ", "1 day 3 h"),
            // Minutes are not shown beside days.
            (86_400 + 5 * 60, "1 ngày", "1 day"),
            (2 * 86_400, "2 ngày", "2 days"),
            (3 * 86_400 + 23 * 3600, "3 ngày 23 giờ", "3 days 23 h"),
            // A negative length reads as its size.
            (-(2 * 3600 + 30 * 60), "2 giờ 30 phút", "2 h 30 min"),
        ]
        for (seconds, vi, en) in cases {
            #expect(Self.vi.duration(seconds: seconds) == vi, "\(seconds) s")
            #expect(Self.en.duration(seconds: seconds) == en, "\(seconds) s")
        }
        #expect(Self.vi.workingTimeLeft(seconds: 9000) == "còn 2 giờ 30 phút làm việc")
        #expect(Self.en.workingTimeLeft(seconds: 9000) == "2 h 30 min of working time left")
        #expect(Self.vi.workingTimeLeft(seconds: 30) == "còn dưới 1 phút làm việc")
        #expect(Self.vi.workingTimeLeft(seconds: 0) == "đã hết thời gian làm việc")
        #expect(Self.en.workingTimeLeft(seconds: -5) == "no working time left")
        #expect(Self.vi.overdue(seconds: 97_200) == "quá hạn 1 ngày 3 giờ")
        #expect(Self.en.overdue(seconds: 97_200) == "overdue by 1 day 3 h")
        #expect(Self.vi.overdue(seconds: 2700) == "quá hạn 45 phút")
    }

    // MARK: Labels

    @Test("labels of states, severities, comment kinds, actor kinds and deadlines, distinct in each language")
    func labels() {
        #expect(IssueState.allCases.map(Self.vi.state) == [
            "Chờ chuyển xử lý", "Đã chuyển xử lý", "Chưa xác định nơi xử lý", "Đang xử lý", "Đã giải quyết", "Đã đóng", "Mở lại",
        ])
        #expect(IssueState.allCases.map(Self.en.state) == ["Awaiting routing", "Routed", "No route yet", "In progress", "Resolved", "Closed", "Reopened"])
        #expect(Severity.allCases.map(Self.vi.severity) == ["Thường", "Khẩn"])
        #expect(Severity.allCases.map(Self.en.severity) == ["Normal", "Urgent"])
        #expect(CommentKind.allCases.map(Self.vi.commentKind) == ["Ghi chú", "Hướng dẫn", "Ý kiến", "Chỉ đạo"])
        #expect(CommentKind.allCases.map(Self.en.commentKind) == ["Note", "Guidance", "Opinion", "Direction"])
        #expect(ActorKind.allCases.map(Self.vi.actorKind) == ["Xã, phường", "Sở, ngành", "Ủy viên Ban Thường vụ", "Giám sát", "Quản trị hệ thống"])
        #expect(ActorKind.allCases.map(Self.en.actorKind) == ["Commune or ward", "Agency", "Standing Committee member", "Supervisor", "Administrator"])
        #expect(DeadlineClock.allCases.map(Self.vi.deadline) == ["tiếp nhận", "giải quyết"])
        for wording in [Self.vi, Self.en] {
            #expect(Set(IssueState.allCases.map(wording.state)).count == IssueState.allCases.count)
            #expect(Set(ActorKind.allCases.map(wording.actorKind)).count == ActorKind.allCases.count)
        }
    }

    // MARK: Names

    @Test("directory names by code, falling back to the code; actors by scope")
    func names() {
        let names = DirectoryNames(directory: Self.directory)
        #expect(names.unit("LC-SAPA-01") == "Phường Sa Pa" && names.unit("gone") == "gone")
        #expect(names.agency("so-y-te") == "Sở Y tế" && names.agency("gone") == "gone")
        #expect(names.person("m-north") == "Nguyễn Văn A" && names.person("gone") == "gone")
        #expect(names.area("north") == "Khu vực Bắc" && names.area("gone") == "gone")
        #expect(names.group("board") == "Thường trực" && names.group("gone") == "gone")
        #expect(names.sector("health", locale: .vi) == "Y tế" && names.sector("health", locale: .en) == "Health")
        #expect(names.sector("gone", locale: .vi) == "gone")
        #expect(names.target(kind: .agency, code: "so-xd") == "Sở Xây dựng" && names.target(kind: .person, code: "p-chair") == "Trần Thị Bình")
        let actors: [(String, String, String)] = [
            ("agency:so-y-te", "Sở Y tế", "Sở Y tế"),
            ("unit:LC-SAPA-01", "Phường Sa Pa", "Phường Sa Pa"),
            ("member:m-north", "Nguyễn Văn A", "Nguyễn Văn A"),
            ("supervisor:p-chair", "Trần Thị Bình", "Trần Thị Bình"),
            ("agency:gone", "gone", "gone"),
            ("admin", "Quản trị hệ thống", "The administrator"),
            ("admin:ops", "Quản trị hệ thống", "The administrator"),
            ("router", "Hệ thống", "The system"),
            ("escalator", "Hệ thống", "The system"),
            ("api", "API", "API"),
            ("cli", "Dòng lệnh", "The command line"),
            ("sql", "Cơ sở dữ liệu", "The database"),
            ("web", "Trang web", "The web page"),
            ("agency", "agency", "agency"),
            ("hệ thống khác", "hệ thống khác", "hệ thống khác"),
        ]
        for (scope, vi, en) in actors {
            #expect(names.actor(scope) == vi, "\(scope)")
            #expect(names.actor(scope, locale: .en) == en, "\(scope)")
        }
        // Without a directory every name is its code.
        #expect(DirectoryNames().agency("so-y-te") == "so-y-te")
        #expect(Wording(locale: .vi, timeZone: Self.vi.timeZone).sentence(Self.event("acknowledged", "agency:so-y-te")) == "so-y-te đã tiếp nhận")
    }

    // MARK: Sentences

    /// Each event: (event, Vietnamese, English, detail).
    static let history: [(EventWording, String, String, String?)] = [
        // Reports: filed by a unit (with its reporter), or by an intake path alone.
        (event("reported", "unit:LC-SAPA-01", ["origin": .string("api"), "reporter": .string("Hoàng Thị Em")]),
         "Hoàng Thị Em (Phường Sa Pa) đã gửi phản ánh", "Hoàng Thị Em (Phường Sa Pa) reported the issue", nil),
        (event("reported", "unit:LC-SAPA-01", ["origin": .string("api")]),
         "Phường Sa Pa đã gửi phản ánh", "Phường Sa Pa reported the issue", nil),
        (event("reported", "unit:LC-SAPA-01", account: "Hoàng Thị Em", ["origin": .string("api")]),
         "Hoàng Thị Em (Phường Sa Pa) đã gửi phản ánh", "Hoàng Thị Em (Phường Sa Pa) reported the issue", nil),
        (event("reported", "sql", ["origin": .string("sql")]),
         "Phản ánh được ghi nhận trực tiếp vào cơ sở dữ liệu", "Reported directly into the database", nil),
        (event("reported", "api", ["origin": .string("api")]),
         "Phản ánh được ghi nhận qua API", "Reported through the API", nil),
        (event("reported", "cli", ["origin": .string("cli"), "reporter": .string("Hoàng Thị Em")]),
         "Hoàng Thị Em đã gửi phản ánh qua dòng lệnh", "Hoàng Thị Em reported the issue from the command line", nil),
        (event("reported", "web", account: "Hoàng Thị Em", ["origin": .string("web")]),
         "Hoàng Thị Em đã gửi phản ánh qua trang web", "Hoàng Thị Em reported the issue on the web page", nil),
        (event("reported", "web", ["origin": .string("web")]),
         "Phản ánh được ghi nhận qua trang web", "Reported on the web page", nil),
        // Routing, as the router writes it.
        (event("routed", "router", [
            "directory_revision": .number(3), "router": .string("host-1"),
            "assignments": .array([
                .object(["kind": .string("agency"), "code": .string("so-y-te"), "role": .string("agency")]),
                .object(["kind": .string("person"), "code": .string("m-north"), "role": .string("member")]),
                .object(["kind": .string("person"), "code": .string("w-1"), "role": .string("watcher"), "rule": .string("r1")]),
            ]),
         ]),
         "Hệ thống đã chuyển đến Sở Y tế và Nguyễn Văn A (phụ trách địa bàn); để biết: Lê Văn Cường",
         "The system routed the issue to Sở Y tế and Nguyễn Văn A (member in charge); for information: Lê Văn Cường", nil),
        (event("routed", "router"), "Hệ thống đã chuyển xử lý", "The system routed the issue", nil),
        (event("unroutable", "router", ["reason": .string("sector 'xyz' is not in the directory")]),
         "Hệ thống chưa xác định được nơi xử lý (lĩnh vực xyz chưa có trong danh bạ)",
         "The system found no route (sector xyz is not in the directory)", nil),
        (event("unroutable", "router", ["reason": .string("unit 'LC-X' is not in the directory")]),
         "Hệ thống chưa xác định được nơi xử lý (đơn vị LC-X chưa có trong danh bạ)",
         "The system found no route (unit LC-X is not in the directory)", nil),
        (event("unroutable", "router", ["reason": .string("area 'north' has no member in charge")]),
         "Hệ thống chưa xác định được nơi xử lý (địa bàn Khu vực Bắc chưa có Ủy viên phụ trách)",
         "The system found no route (area Khu vực Bắc has no member in charge)", nil),
        (event("unroutable", "router", ["reason": .string("something new")]),
         "Hệ thống chưa xác định được nơi xử lý", "The system found no route", "something new"),
        // The lifecycle, with and without the person who acted.
        (event("acknowledged", "agency:so-y-te"), "Sở Y tế đã tiếp nhận", "Sở Y tế acknowledged the issue", nil),
        (event("acknowledged", "agency:so-y-te", account: "Phạm Minh Đức"),
         "Phạm Minh Đức (Sở Y tế) đã tiếp nhận", "Phạm Minh Đức (Sở Y tế) acknowledged the issue", nil),
        (event("commented", "member:m-north", account: "Nguyễn Văn A", ["kind": .string("direction"), "text": .string("Khẩn trương xử lý.")]),
         "Nguyễn Văn A (Ủy viên Ban Thường vụ) đã cho ý kiến chỉ đạo", "Nguyễn Văn A (Standing Committee member) gave a direction", "Khẩn trương xử lý."),
        (event("commented", "member:m-north", ["kind": .string("direction"), "text": .string("Khẩn trương xử lý.")]),
         "Nguyễn Văn A đã cho ý kiến chỉ đạo", "Nguyễn Văn A gave a direction", "Khẩn trương xử lý."),
        (event("commented", "member:m-north", account: "Thư ký Hà", ["kind": .string("opinion"), "text": .string("Đồng ý.")]),
         "Thư ký Hà (Nguyễn Văn A) đã cho ý kiến", "Thư ký Hà (Nguyễn Văn A) gave an opinion", "Đồng ý."),
        (event("commented", "agency:so-y-te", ["kind": .string("guidance"), "text": .string("Bổ sung hồ sơ.")]),
         "Sở Y tế đã hướng dẫn", "Sở Y tế gave guidance", "Bổ sung hồ sơ."),
        (event("commented", "unit:LC-SAPA-01", account: "Hoàng Thị Em", ["kind": .string("note"), "text": .string("Đã gửi bổ sung.")]),
         "Hoàng Thị Em (Phường Sa Pa) đã ghi chú", "Hoàng Thị Em (Phường Sa Pa) added a note", "Đã gửi bổ sung."),
        (event("reassigned", "agency:so-y-te", ["from": .string("so-y-te"), "to": .string("so-xd"), "reason": .string("Không thuộc thẩm quyền")]),
         "Sở Y tế đã chuyển từ Sở Y tế sang Sở Xây dựng", "Sở Y tế reassigned the issue from Sở Y tế to Sở Xây dựng", "Không thuộc thẩm quyền"),
        (event("reassigned", "supervisor:p-chair", account: "Trần Thị Bình", ["to": .string("so-xd"), "reason": .string("Đúng lĩnh vực")]),
         "Trần Thị Bình (Giám sát) đã chuyển sang Sở Xây dựng", "Trần Thị Bình (Supervisor) reassigned the issue to Sở Xây dựng", "Đúng lĩnh vực"),
        (event("resolved", "agency:so-y-te", ["resolution": .string("Đã cấp giấy.")]),
         "Sở Y tế đã giải quyết", "Sở Y tế resolved the issue", "Đã cấp giấy."),
        (event("resolved", "agency:so-y-te", account: "Phạm Minh Đức", ["resolution": .string("Đã cấp giấy.")]),
         "Phạm Minh Đức (Sở Y tế) đã giải quyết", "Phạm Minh Đức (Sở Y tế) resolved the issue", "Đã cấp giấy."),
        (event("resolved", "admin", ["resolution": .string("Xong")]),
         "Quản trị hệ thống đã giải quyết", "The administrator resolved the issue", "Xong"),
        (event("reopened", "unit:LC-SAPA-01", ["reason": .string("Chưa nhận được giấy")]),
         "Phường Sa Pa đã mở lại", "Phường Sa Pa reopened the issue", "Chưa nhận được giấy"),
        (event("reopened", "unit:LC-SAPA-01", account: "Hoàng Thị Em", ["reason": .string("Chưa nhận được giấy")]),
         "Hoàng Thị Em (Phường Sa Pa) đã mở lại", "Hoàng Thị Em (Phường Sa Pa) reopened the issue", "Chưa nhận được giấy"),
        // An extension as the lifecycle writes it (text values, `by` in DurationText).
        (event("deadline_extended", "supervisor:p-chair", [
            "deadline": .string("resolve"), "from": .string("2026-11-30T00:05:00.000Z"), "to": .string("2026-12-01T07:05:00.000Z"),
            "by": .string("1d3h"), "reason": .string("Chờ ý kiến Bộ"),
         ]),
         "Trần Thị Bình đã gia hạn thời hạn giải quyết thêm 1 ngày 3 giờ, đến 01/12/2026 14:05",
         "Trần Thị Bình extended the resolution deadline by 1 day 3 h, to 1 Dec 2026 14:05", "Chờ ý kiến Bộ"),
        (event("deadline_extended", "supervisor:p-chair", account: "Trần Thị Bình", [
            "deadline": .string("acknowledge"), "to": .string("2026-12-01T07:05:00Z"), "by": .string("4h"), "reason": .string("Nghỉ lễ"),
         ]),
         "Trần Thị Bình (Giám sát) đã gia hạn thời hạn tiếp nhận thêm 4 giờ, đến 01/12/2026 14:05",
         "Trần Thị Bình (Supervisor) extended the acknowledgement deadline by 4 h, to 1 Dec 2026 14:05", "Nghỉ lễ"),
        (event("closed", "unit:LC-SAPA-01"), "Phường Sa Pa đã đóng phản ánh", "Phường Sa Pa closed the issue", nil),
        (event("closed", "unit:LC-SAPA-01", account: "Hoàng Thị Em"),
         "Hoàng Thị Em (Phường Sa Pa) đã đóng phản ánh", "Hoàng Thị Em (Phường Sa Pa) closed the issue", nil),
        // Escalations, as the escalator writes them.
        (event("escalated", "escalator", [
            "level": .number(2), "repeat": .number(0), "clock": .string("acknowledge"), "chain": .string("default"),
            "notified": .array([
                .object(["kind": .string("agency"), "code": .string("so-y-te"), "channels": .array([.string("email")])]),
                .object(["kind": .string("person"), "code": .string("p-chair"), "channels": .array([])]),
            ]),
         ]),
         "Quá hạn tiếp nhận: đã nâng lên cấp 2, báo cho Sở Y tế, Trần Thị Bình",
         "Overdue (acknowledgement): raised to level 2, notified Sở Y tế, Trần Thị Bình", nil),
        (event("escalated", "escalator", [
            "level": .number(1), "repeat": .number(2), "clock": .string("resolve"),
            "notified": .array([.object(["kind": .string("person"), "code": .string("m-north")])]),
         ]),
         "Quá hạn giải quyết: nhắc lần 2 ở cấp 1, báo cho Nguyễn Văn A",
         "Overdue (resolution): reminder 2 at level 1, notified Nguyễn Văn A", nil),
        (event("escalated", "escalator", ["level": .number(3), "repeat": .number(0), "clock": .string("resolve"), "notified": .array([])]),
         "Quá hạn giải quyết: đã nâng lên cấp 3, không có ai để báo", "Overdue (resolution): raised to level 3, no one to notify", nil),
        // A kind this version does not know, and a code the directory no longer has.
        (event("merged", "admin"), "Quản trị hệ thống: merged", "The administrator: merged", nil),
        (event("merged", "admin:ops", account: "Vận hành"), "Vận hành (Quản trị hệ thống): merged", "Vận hành (Administrator): merged", nil),
        (event("acknowledged", "agency:gone"), "gone đã tiếp nhận", "gone acknowledged the issue", nil),
    ]

    @Test("every event kind is a sentence naming who did what, in Vietnamese and English, with and without the person; its free text apart")
    func sentences() {
        for (event, vi, en, detail) in Self.history {
            #expect(Self.vi.sentence(event) == vi, "\(event.kind) \(event.actor)")
            #expect(Self.en.sentence(event) == en, "\(event.kind) \(event.actor)")
            #expect(event.detail == detail, "\(event.kind) \(event.actor)")
        }
        // Every kind the daemon writes is covered.
        let kinds = Set(Self.history.map(\.0.kind))
        for kind in ["reported", "routed", "unroutable", "acknowledged", "commented", "reassigned", "resolved", "reopened",
                     "deadline_extended", "closed", "escalated"] {
            #expect(kinds.contains(kind), "\(kind)")
        }
        #expect(Self.history[16].0.commentKind == .direction && Self.history[0].0.commentKind == nil)
    }

    @Test("the lifecycle's event data (every value text) and an empty payload read as well as JSON numbers")
    func loosePayloads() {
        let escalated = Self.event("escalated", "escalator", ["level": .string("2"), "repeat": .string("1"), "clock": .string("acknowledge")])
        #expect(Self.vi.sentence(escalated) == "Quá hạn tiếp nhận: nhắc lần 1 ở cấp 2, không có ai để báo")
        let extended = EventWording(kind: "deadline_extended", actor: "admin", data: .null, at: Self.at)
        #expect(Self.vi.sentence(extended) == "Quản trị hệ thống đã gia hạn thời hạn")
        #expect(Self.en.sentence(extended) == "The administrator extended the deadline")
        #expect(extended.detail == nil)
        let comment = Self.event("commented", "agency:so-y-te", ["text": .string("  ")])
        #expect(Self.vi.sentence(comment) == "Sở Y tế đã ghi chú")
        #expect(comment.detail == nil)
        #expect(EventWording(kind: "commented", actor: "agency:so-y-te", data: .object(["text": .string("")]), at: Self.at).detail == nil)
    }

    // MARK: NFC

    @Test("every text is NFC, even from a directory, an account name and a comment written in decomposed form")
    func nfc() {
        let decomposed = { (s: String) in s.decomposedStringWithCanonicalMapping }
        var directory = Self.directory
        directory.people[0].name = decomposed("Nguyễn Văn A")
        directory.agencies[0].name = decomposed("Sở Y tế")
        directory.units[0].name = decomposed("Phường Sa Pa")
        directory.sectors[0].nameVi = decomposed("Y tế")
        #expect(!Self.isNFC(directory.people[0].name))
        let names = DirectoryNames(directory: directory)
        #expect(names.person("m-north") == "Nguyễn Văn A" && Self.isNFC(names.person("m-north")))
        #expect(Self.isNFC(names.sector("health", locale: .vi)) && Self.isNFC(names.actor("agency:so-y-te")))
        #expect(Self.isNFC(names.actor(decomposed("hệ thống khác"))))
        var outputs: [String] = []
        for locale in PersonLocale.allCases {
            let wording = Wording(locale: locale, directory: directory)
            #expect(wording.sentence(Self.event("acknowledged", "agency:so-y-te", account: decomposed("Phạm Minh Đức")))
                == (locale == .vi ? "Phạm Minh Đức (Sở Y tế) đã tiếp nhận" : "Phạm Minh Đức (Sở Y tế) acknowledged the issue"))
            for (event, _, _, _) in Self.history {
                var e = event
                if let account = e.accountName { e.accountName = decomposed(account) }
                outputs.append(wording.sentence(e))
                if let detail = e.detail { outputs.append(detail) }
            }
            let comment = Self.event("commented", "member:m-north", ["kind": .string("direction"), "text": .string(decomposed("Khẩn trương"))])
            outputs.append(comment.detail ?? "")
            outputs += IssueState.allCases.map(wording.state) + Severity.allCases.map(wording.severity)
            outputs += CommentKind.allCases.map(wording.commentKind) + ActorKind.allCases.map(wording.actorKind)
            outputs += DeadlineClock.allCases.map(wording.deadline)
            outputs += [0, 59, 60, 9000, 97_200, 172_800].flatMap {
                [wording.duration(seconds: $0), wording.workingTimeLeft(seconds: $0), wording.overdue(seconds: $0)]
            }
            outputs += [wording.dateTime(Self.afternoon), wording.date(Self.afternoon), wording.date(LocalDate(year: 2026, month: 1, day: 5))]
            outputs += ["agency:so-y-te", "member:m-north", "admin", "router", "cli", "sql"].map { names.actor($0, locale: locale) }
        }
        for text in outputs { #expect(Self.isNFC(text), "\(text)") }
        #expect(outputs.count > 150)
    }
}
