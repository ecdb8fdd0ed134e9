public import Foundation

/// How the web pages, emails and digests say things: Vietnamese first, English for people who
/// read English. Pure and cheap to make; every text it returns is in NFC.
///
/// - Times are the province's local time (``timeZone``, the directory's): `01/12/2026 14:05`
///   (dd/MM/yyyy HH:mm) in Vietnamese, `1 Dec 2026 14:05` in English (the day-first month name
///   reads the same to every English reader, where `01/12` would not). No zone is written: every
///   reader is in the province.
/// - Durations name at most two units, largest first and next to each other (days and hours,
///   or hours and minutes), and are rounded **down** to the smaller unit shown: `1 ngày 3 giờ`
///   for 1 day 3 h 59 min, `2 giờ 30 phút` for 2 h 30 min 59 s; under a minute is
///   `dưới 1 phút`, nothing at all `0 phút`. A day is 24 hours, as in ``DurationText``.
/// - ``sentence(_:)`` makes one history row a sentence naming who did what; the free text that
///   goes with it (a comment, a reason, a resolution) is ``EventWording/detail``, shown apart.
///   Sentences are plain text: the web layer escapes them.
public struct Wording: Sendable {
    /// The reader's language.
    public var locale: PersonLocale
    /// The province's time zone (the directory's, ``Directory/timeZone``).
    public var timeZone: TimeZone
    /// The names that replace codes in sentences.
    public var names: DirectoryNames

    /// Wording for `locale` in `timeZone`; without `names`, sentences show codes.
    public init(locale: PersonLocale, timeZone: TimeZone, names: DirectoryNames = DirectoryNames()) {
        self.locale = locale
        self.timeZone = timeZone
        self.names = names
    }

    /// Wording for `locale` with `directory`'s time zone and names.
    public init(locale: PersonLocale, directory: Directory) {
        self.init(locale: locale, timeZone: directory.timeZone, names: DirectoryNames(directory: directory))
    }

    private var vi: Bool { locale == .vi }

    // MARK: Dates and durations

    private func day(year: Int, month: Int, day: Int) -> String {
        vi ? "\(twoDigits(day))/\(twoDigits(month))/\(year)" : "\(day) \(englishMonthAbbreviations[month - 1]) \(year)"
    }

    private func components(_ date: Date) -> DateComponents {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
    }

    /// The local date and time: `01/12/2026 14:05` in Vietnamese, `1 Dec 2026 14:05` in English.
    public func dateTime(_ date: Date) -> String {
        let c = components(date)
        return day(year: c.year!, month: c.month!, day: c.day!) + " \(twoDigits(c.hour!)):\(twoDigits(c.minute!))"
    }

    /// The local date: `01/12/2026` in Vietnamese, `1 Dec 2026` in English.
    public func date(_ date: Date) -> String {
        let c = components(date)
        return day(year: c.year!, month: c.month!, day: c.day!)
    }

    /// A calendar day (a digest's day, a holiday), written as the `Date` overload writes it.
    public func date(_ localDate: LocalDate) -> String {
        day(year: localDate.year, month: localDate.month, day: localDate.day)
    }

    /// A length of time: `1 ngày 3 giờ`, `2 giờ 30 phút`, `45 phút`, `dưới 1 phút`, `0 phút`
    /// (`1 day 3 h`, `2 days`, `2 h 30 min`, `45 min`, `under 1 min`, `0 min`). A negative
    /// length reads as its size.
    public func duration(seconds: Int) -> String {
        let total = seconds.magnitude
        if total == 0 { return vi ? "0 phút" : "0 min" }
        if total < 60 { return vi ? "dưới 1 phút" : "under 1 min" }
        let days = Int(total / 86_400), hours = Int(total % 86_400 / 3600), minutes = Int(total % 3600 / 60)
        func unit(_ n: Int, _ viName: String, _ enName: String, _ enPlural: String) -> String {
            vi ? "\(n) \(viName)" : "\(n) \(n == 1 ? enName : enPlural)"
        }
        var parts: [String] = []
        if days > 0 {
            parts.append(unit(days, "ngày", "day", "days"))
            if hours > 0 { parts.append(unit(hours, "giờ", "h", "h")) }
        } else {
            if hours > 0 { parts.append(unit(hours, "giờ", "h", "h")) }
            if minutes > 0 { parts.append(unit(minutes, "phút", "min", "min")) }
        }
        return parts.joined(separator: " ")
    }

    /// Working time before a deadline: `còn 2 giờ 30 phút làm việc` (`2 h 30 min of working
    /// time left`); none left (zero or less) is `đã hết thời gian làm việc` (`no working time left`).
    public func workingTimeLeft(seconds: Int) -> String {
        guard seconds > 0 else { return vi ? "đã hết thời gian làm việc" : "no working time left" }
        return vi ? "còn \(duration(seconds: seconds)) làm việc" : "\(duration(seconds: seconds)) of working time left"
    }

    /// Time past a deadline: `quá hạn 1 ngày 3 giờ` (`overdue by 1 day 3 h`).
    public func overdue(seconds: Int) -> String {
        vi ? "quá hạn \(duration(seconds: seconds))" : "overdue by \(duration(seconds: seconds))"
    }

    // MARK: Labels

    /// An issue's state as a label: `Chờ chuyển xử lý`, `Đã chuyển xử lý`, `Đang xử lý`...
    public func state(_ s: IssueState) -> String {
        switch s {
        case .reported: return vi ? "Chờ chuyển xử lý" : "Awaiting routing"
        case .routed: return vi ? "Đã chuyển xử lý" : "Routed"
        case .unroutable: return vi ? "Chưa xác định nơi xử lý" : "No route yet"
        case .acknowledged: return vi ? "Đang xử lý" : "In progress"
        case .resolved: return vi ? "Đã giải quyết" : "Resolved"
        case .closed: return vi ? "Đã đóng" : "Closed"
        case .reopened: return vi ? "Mở lại" : "Reopened"
        }
    }

    /// `Thường` / `Khẩn` (`Normal` / `Urgent`).
    public func severity(_ s: Severity) -> String {
        switch s {
        case .normal: return vi ? "Thường" : "Normal"
        case .urgent: return vi ? "Khẩn" : "Urgent"
        }
    }

    /// `Ghi chú`, `Hướng dẫn`, `Ý kiến`, `Chỉ đạo` (`Note`, `Guidance`, `Opinion`, `Direction`).
    public func commentKind(_ k: CommentKind) -> String {
        switch k {
        case .note: return vi ? "Ghi chú" : "Note"
        case .guidance: return vi ? "Hướng dẫn" : "Guidance"
        case .opinion: return vi ? "Ý kiến" : "Opinion"
        case .direction: return vi ? "Chỉ đạo" : "Direction"
        }
    }

    /// What kind of actor someone is: `Xã, phường`, `Sở, ngành`, `Ủy viên Ban Thường vụ`,
    /// `Giám sát`, `Quản trị hệ thống`.
    public func actorKind(_ k: ActorKind) -> String {
        switch k {
        case .unit: return vi ? "Xã, phường" : "Commune or ward"
        case .agency: return vi ? "Sở, ngành" : "Agency"
        case .member: return vi ? "Ủy viên Ban Thường vụ" : "Standing Committee member"
        case .supervisor: return vi ? "Giám sát" : "Supervisor"
        case .admin: return vi ? "Quản trị hệ thống" : "Administrator"
        }
    }

    /// Which deadline: `tiếp nhận` / `giải quyết` (`acknowledgement` / `resolution`).
    public func deadline(_ clock: DeadlineClock) -> String {
        switch clock {
        case .acknowledge: return vi ? "tiếp nhận" : "acknowledgement"
        case .resolve: return vi ? "giải quyết" : "resolution"
        }
    }

    // MARK: History

    /// Who did something, from an event's `actor` and the web account's name: `Sở Y tế`;
    /// with a person `Nguyễn Văn A (Sở Y tế)`; a member or supervisor acting as themselves
    /// `Nguyễn Văn A (Ủy viên Ban Thường vụ)`; the router and the escalator `Hệ thống`.
    public func who(actor: String, accountName: String?) -> String {
        let scope = names.actor(actor, locale: locale)
        guard let person = accountName?.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping,
              !person.isEmpty else { return scope }
        let kindText = actor.split(separator: ":", maxSplits: 1).first.map(String.init) ?? actor
        guard let kind = ActorKind(rawValue: kindText) else { return person }
        switch kind {
        case .admin: return "\(person) (\(actorKind(.admin)))"
        case .member, .supervisor:
            // Acting as themselves: say what they are rather than their name twice.
            return scope == person || !actor.contains(":") ? "\(person) (\(actorKind(kind)))" : "\(person) (\(scope))"
        case .unit, .agency: return "\(person) (\(scope))"
        }
    }

    /// One history row as a sentence: who did what (`Nguyễn Văn A (Sở Y tế) đã tiếp nhận`,
    /// `Hệ thống đã chuyển đến Sở Y tế và Nguyễn Văn B (phụ trách địa bàn)`,
    /// `Quá hạn tiếp nhận: đã nâng lên cấp 2, báo cho Sở Y tế`). The free text of the event is
    /// left out (``EventWording/detail``). An event kind this version does not know reads as
    /// `Sở Y tế: kind`.
    public func sentence(_ event: EventWording) -> String {
        let d = event.fields
        let subject = who(actor: event.actor, accountName: event.accountName)
        let text: String
        switch event.kind {
        case "reported":
            text = reported(event, subject: subject)
        case "routed":
            text = routed(d)
        case "unroutable":
            let why = EventWording.unroutableReason(d.string("reason")).map { " (\(self.unroutable($0)))" } ?? ""
            text = (vi ? "Hệ thống chưa xác định được nơi xử lý" : "The system found no route") + why
        case "acknowledged":
            text = vi ? "\(subject) đã tiếp nhận" : "\(subject) acknowledged the issue"
        case "commented":
            switch d.string("kind").flatMap(CommentKind.init(rawValue:)) {
            case .guidance?: text = vi ? "\(subject) đã hướng dẫn" : "\(subject) gave guidance"
            case .opinion?: text = vi ? "\(subject) đã cho ý kiến" : "\(subject) gave an opinion"
            case .direction?: text = vi ? "\(subject) đã cho ý kiến chỉ đạo" : "\(subject) gave a direction"
            case .note?, nil: text = vi ? "\(subject) đã ghi chú" : "\(subject) added a note"
            }
        case "reassigned":
            let to = d.string("to").map(names.agency) ?? (vi ? "cơ quan khác" : "another agency")
            if let from = d.string("from").map(names.agency) {
                text = vi ? "\(subject) đã chuyển từ \(from) sang \(to)" : "\(subject) reassigned the issue from \(from) to \(to)"
            } else {
                text = vi ? "\(subject) đã chuyển sang \(to)" : "\(subject) reassigned the issue to \(to)"
            }
        case "resolved":
            text = vi ? "\(subject) đã giải quyết" : "\(subject) resolved the issue"
        case "reopened":
            text = vi ? "\(subject) đã mở lại" : "\(subject) reopened the issue"
        case "deadline_extended", "extended":
            text = extended(d, subject: subject)
        case "closed":
            text = vi ? "\(subject) đã đóng phản ánh" : "\(subject) closed the issue"
        case "escalated":
            text = escalated(d)
        default:
            text = "\(subject): \(event.kind)"
        }
        return text.precomposedStringWithCanonicalMapping
    }

    private func reported(_ event: EventWording, subject: String) -> String {
        let reporter = event.fields.string("reporter").map { $0.precomposedStringWithCanonicalMapping }
        let isOrigin = IssueOrigin(rawValue: event.actor) != nil
        guard isOrigin else {
            // A scope filed it (`unit:LC-SAPA-01`): the reporter, when named, is the person.
            let filer = event.accountName == nil ? reporter.map { who(actor: event.actor, accountName: $0) } ?? subject : subject
            return vi ? "\(filer) đã gửi phản ánh" : "\(filer) reported the issue"
        }
        let path: String
        switch IssueOrigin(rawValue: event.actor)! {
        case .api: path = vi ? "qua API" : "through the API"
        case .cli: path = vi ? "qua dòng lệnh" : "from the command line"
        case .sql: path = vi ? "trực tiếp vào cơ sở dữ liệu" : "directly into the database"
        case .web: path = vi ? "qua trang web" : "on the web page"
        }
        if let person = event.accountName ?? reporter {
            return vi ? "\(person) đã gửi phản ánh \(path)" : "\(person) reported the issue \(path)"
        }
        return vi ? "Phản ánh được ghi nhận \(path)" : "Reported \(path)"
    }

    private func routed(_ d: [String: JSONValue]) -> String {
        var agencies: [String] = [], members: [String] = [], watchers: [String] = []
        for a in d.array("assignments") {
            guard case .object(let o) = a, let code = o.string("code") else { continue }
            let name = names.target(kind: o.string("kind").flatMap(TargetKind.init(rawValue:)) ?? .agency, code: code)
            switch o.string("role").flatMap(AssignmentRole.init(rawValue:)) {
            case .member?: members.append(name + (vi ? " (phụ trách địa bàn)" : " (member in charge)"))
            case .watcher?: watchers.append(name)
            case .agency?, nil: agencies.append(name)
            }
        }
        let targets = agencies + members
        guard !targets.isEmpty else { return vi ? "Hệ thống đã chuyển xử lý" : "The system routed the issue" }
        var text = vi ? "Hệ thống đã chuyển đến \(list(targets))" : "The system routed the issue to \(list(targets))"
        if !watchers.isEmpty { text += vi ? "; để biết: \(watchers.joined(separator: ", "))" : "; for information: \(watchers.joined(separator: ", "))" }
        return text
    }

    private func unroutable(_ reason: EventWording.UnroutableReason) -> String {
        switch reason {
        case .unknownUnit(let code): return vi ? "đơn vị \(code) chưa có trong danh bạ" : "unit \(code) is not in the directory"
        case .unknownSector(let code): return vi ? "lĩnh vực \(code) chưa có trong danh bạ" : "sector \(code) is not in the directory"
        case .noMember(let code):
            let area = names.area(code)
            return vi ? "địa bàn \(area) chưa có Ủy viên phụ trách" : "area \(area) has no member in charge"
        }
    }

    private func extended(_ d: [String: JSONValue], subject: String) -> String {
        let clock = (d.string("deadline") ?? d.string("clock")).flatMap(DeadlineClock.init(rawValue:))
        let which = clock.map { vi ? "thời hạn \(deadline($0))" : "the \(deadline($0)) deadline" } ?? (vi ? "thời hạn" : "the deadline")
        var text = vi ? "\(subject) đã gia hạn \(which)" : "\(subject) extended \(which)"
        if let seconds = d.string("by").flatMap(DurationText.seconds) ?? d.int("seconds") ?? d.int("by") {
            text += vi ? " thêm \(duration(seconds: seconds))" : " by \(duration(seconds: seconds))"
        }
        if let to = d.string("to").flatMap(EventWording.instant) {
            text += vi ? ", đến \(dateTime(to))" : ", to \(dateTime(to))"
        }
        return text
    }

    private func escalated(_ d: [String: JSONValue]) -> String {
        let clock = d.string("clock").flatMap(DeadlineClock.init(rawValue:))
        var text = clock.map { vi ? "Quá hạn \(deadline($0))" : "Overdue (\(deadline($0)))" } ?? (vi ? "Quá hạn" : "Overdue")
        let level = d.int("level") ?? 0, reminder = d.int("repeat") ?? 0
        if reminder > 0 {
            text += vi ? ": nhắc lần \(reminder) ở cấp \(level)" : ": reminder \(reminder) at level \(level)"
        } else {
            text += vi ? ": đã nâng lên cấp \(level)" : ": raised to level \(level)"
        }
        let notified = d.array("notified").compactMap { item -> String? in
            guard case .object(let o) = item, let code = o.string("code") else { return nil }
            return names.target(kind: o.string("kind").flatMap(TargetKind.init(rawValue:)) ?? .person, code: code)
        }
        if notified.isEmpty {
            text += vi ? ", không có ai để báo" : ", no one to notify"
        } else {
            text += vi ? ", báo cho \(notified.joined(separator: ", "))" : ", notified \(notified.joined(separator: ", "))"
        }
        return text
    }

    /// `A`, `A và B`, `A, B và C` (`A and B`, `A, B and C`).
    private func list(_ items: [String]) -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + (vi ? " và " : " and ") + items.last!
    }
}

/// One row of an issue's history, as ``Wording/sentence(_:)`` reads it (the `events` table).
public struct EventWording: Sendable {
    /// `events.kind`: `reported`, `routed`, `unroutable`, `acknowledged`, `commented`,
    /// `reassigned`, `resolved`, `reopened`, `deadline_extended`, `closed`, `escalated`.
    public var kind: String
    /// `events.actor`: a scope (`agency:so-y-te`, `unit:LC-SAPA-01`, `member:m-north`,
    /// `supervisor:p-chair`, `admin`), `router`, `escalator`, or an intake path (`api`, `cli`,
    /// `sql`) for a report nobody named.
    public var actor: String
    /// The person (web account) who did it, when a person did (`events.account_name`).
    public var accountName: String?
    /// `events.data`.
    public var data: JSONValue
    /// `events.at`.
    public var at: Date

    public init(kind: String, actor: String, accountName: String? = nil, data: JSONValue = .object([:]), at: Date) {
        self.kind = kind
        self.actor = actor
        self.accountName = accountName
        self.data = data
        self.at = at
    }

    /// The free text people wrote with the event, shown apart from the sentence: a comment's
    /// text, a resolution, the reason of a reassignment, a reopening or an extension; for an
    /// unroutable issue, the router's reason when the sentence could not say it. Trimmed, NFC;
    /// nil when there is none.
    public var detail: String? {
        let d = fields
        let text: String?
        switch kind {
        case "commented": text = d.string("text")
        case "resolved": text = d.string("resolution")
        case "reassigned", "reopened", "deadline_extended", "extended": text = d.string("reason")
        case "unroutable": text = Self.unroutableReason(d.string("reason")) == nil ? d.string("reason") : nil
        default: text = nil
        }
        guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text.precomposedStringWithCanonicalMapping
    }

    /// The kind of a `commented` event's comment.
    public var commentKind: CommentKind? {
        kind == "commented" ? fields.string("kind").flatMap(CommentKind.init(rawValue:)) : nil
    }

    var fields: [String: JSONValue] {
        if case .object(let o) = data { return o }
        return [:]
    }

    /// Why the router found no route, as ``RoutingTable/route(_:)`` says it.
    enum UnroutableReason {
        case unknownUnit(String), unknownSector(String), noMember(String)
    }

    static func unroutableReason(_ text: String?) -> UnroutableReason? {
        guard let text else { return nil }
        func quoted(_ prefix: String, _ suffix: String) -> String? {
            guard text.hasPrefix(prefix + " '"), text.hasSuffix("' " + suffix) else { return nil }
            let code = text.dropFirst(prefix.count + 2).dropLast(suffix.count + 2)
            return code.isEmpty || code.contains("'") ? nil : String(code)
        }
        if let code = quoted("unit", "is not in the directory") { return .unknownUnit(code) }
        if let code = quoted("sector", "is not in the directory") { return .unknownSector(code) }
        if let code = quoted("area", "has no member in charge") { return .noMember(code) }
        return nil
    }

    /// An instant as events record it (``EventTime``, ISO 8601, with or without milliseconds).
    static func instant(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

fileprivate extension [String: JSONValue] {
    func string(_ key: String) -> String? {
        if case .string(let s)? = self[key] { return s }
        return nil
    }

    /// A whole number written as a JSON number or as text (the lifecycle's event data is text).
    func int(_ key: String) -> Int? {
        switch self[key] {
        case .number(let n)?: return n.isFinite && n.rounded() == n && n.magnitude < 1e15 ? Int(n) : nil
        case .string(let s)?: return Int(s)
        default: return nil
        }
    }

    func array(_ key: String) -> [JSONValue] {
        if case .array(let a)? = self[key] { return a }
        return []
    }
}

/// `Jan` to `Dec`, as English dates and the Date header of an email write the month.
let englishMonthAbbreviations = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

/// `07`, `12`: a day, month, hour or minute in two digits.
func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
