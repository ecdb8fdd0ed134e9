public import EscalationCore
public import Foundation
import Mustache

/// What a notification is about, as the templates see it.
public struct NotificationContext: Sendable {
    public var kind: String
    public var issueID: Int64
    public var title: String
    public var description: String
    public var unit: String
    public var unitName: String
    public var sector: String
    public var sectorName: (vi: String, en: String)
    public var severity: Severity
    public var agencyName: String?
    public var acknowledgeDue: Date?
    public var resolveDue: Date?
    /// For escalations and reminders: the level, the reminder number, the missed deadline.
    public var level: Int?
    public var reminder: Int?
    public var clock: DeadlineClock?
    public var due: Date?
    /// For what people do (`activity`): who did what, as the history says it, and what they wrote.
    public var sentence: String?
    public var detail: String?

    public init(kind: String, issueID: Int64, title: String, description: String, unit: String, unitName: String, sector: String,
                sectorName: (vi: String, en: String), severity: Severity, agencyName: String? = nil, acknowledgeDue: Date? = nil,
                resolveDue: Date? = nil, level: Int? = nil, reminder: Int? = nil, clock: DeadlineClock? = nil, due: Date? = nil) {
        self.kind = kind
        self.issueID = issueID
        self.title = title
        self.description = description
        self.unit = unit
        self.unitName = unitName
        self.sector = sector
        self.sectorName = sectorName
        self.severity = severity
        self.agencyName = agencyName
        self.acknowledgeDue = acknowledgeDue
        self.resolveDue = resolveDue
        self.level = level
        self.reminder = reminder
        self.clock = clock
        self.due = due
    }
}

/// A rendered message: subject, plain text, HTML.
public struct RenderedMessage: Sendable, Equatable {
    public var subject: String
    public var text: String
    public var html: String
}

/// The Mustache templates in `templates/` (embedded in the binary), Vietnamese and English, for
/// each kind of notification: `LOCALE.KIND.PART.mustache`, PART being subject, text or html.
/// Subjects and texts are plain text; HTML escapes every value.
public struct MessageTemplates: Sendable {
    public static let kinds = ["routed", "escalated", "reminder", "digest", "report", "activity", "account"]
    /// The outbox kinds of emails to web accounts (their link is made when they are composed); they share the `account` templates.
    public static let accountKinds: Set<String> = ["invitation", "reset"]
    /// The outbox kinds written for what people do to an issue; they share the `activity` templates.
    public static let activityKinds: Set<String> = ["commented", "resolved", "reopened", "deadline_extended"]
    private let library: MustacheLibrary

    init(library: MustacheLibrary) {
        self.library = library
    }

    /// The embedded templates; throws when one does not parse or one is missing.
    public static func bundled() throws -> MessageTemplates {
        var library = MustacheLibrary()
        for file in EmbeddedTemplates.files {
            guard let data = Data(base64Encoded: file.base64) else { continue }
            try library.register(String(decoding: data, as: UTF8.self), named: String(file.name.dropLast(".mustache".count)))
        }
        let templates = MessageTemplates(library: library)
        for locale in PersonLocale.allCases {
            for kind in kinds {
                for part in ["subject", "text", "html"] where library.getTemplate(named: "\(locale.rawValue).\(kind).\(part)") == nil {
                    throw TemplateMissing(name: "\(locale.rawValue).\(kind).\(part)")
                }
            }
        }
        return templates
    }

    public struct TemplateMissing: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "the message template \(name).mustache is missing" }
    }

    /// Renders `context` for a recipient reading `locale`, times shown in `timeZone` the way
    /// ``Wording`` writes them (`15/06/2025 22:06`, `15 Jun 2025 22:06`).
    public func render(_ context: NotificationContext, locale: PersonLocale, recipient: String, timeZone: TimeZone, link: String) -> RenderedMessage? {
        let vi = locale == .vi
        let wording = Wording(locale: locale, timeZone: timeZone)
        func time(_ date: Date?) -> String { date.map(wording.dateTime) ?? (vi ? "không có" : "none") }
        var values: [String: Any] = [
            "id": "\(context.issueID)",
            "title": context.title,
            "description": context.description,
            "unit": context.unit,
            "unit_name": context.unitName,
            "sector": context.sector,
            "sector_name": vi ? context.sectorName.vi : context.sectorName.en,
            "severity_text": context.severity == .urgent ? (vi ? "khẩn" : "urgent") : (vi ? "thường" : "normal"),
            "recipient": recipient,
            "link": link,
            "acknowledge_due": time(context.acknowledgeDue),
            "resolve_due": time(context.resolveDue),
            "agency_name": context.agencyName ?? "",
        ]
        if let level = context.level { values["level"] = "\(level)" }
        if let reminder = context.reminder { values["reminder"] = "\(reminder)" }
        if let due = context.due { values["due"] = time(due) }
        if let sentence = context.sentence { values["sentence"] = sentence }
        if let detail = context.detail { values["detail"] = detail }
        if let clock = context.clock {
            values["missed"] = clock == .acknowledge ? (vi ? "tiếp nhận" : "acknowledged") : (vi ? "giải quyết" : "resolved")
        }
        let prefix = "\(locale.rawValue).\(context.kind)"
        guard let subject = library.render(values, withTemplate: prefix + ".subject"),
              let text = library.render(values, withTemplate: prefix + ".text"),
              let html = library.render(values, withTemplate: prefix + ".html") else { return nil }
        return RenderedMessage(subject: subject, text: text, html: html)
    }

    /// Renders an invitation or a password-reset email to a web account: `link` sets a password,
    /// valid until `expires`.
    public func renderAccountEmail(kind: String, locale: PersonLocale, recipient: String, link: String, expires: String) -> RenderedMessage? {
        var values: [String: Any] = ["recipient": recipient, "link": link, "expires": expires]
        values[kind] = true
        let prefix = "\(locale.rawValue).account"
        guard let subject = library.render(values, withTemplate: prefix + ".subject"),
              let text = library.render(values, withTemplate: prefix + ".text"),
              let html = library.render(values, withTemplate: prefix + ".html") else { return nil }
        return RenderedMessage(subject: subject, text: text, html: html)
    }

    /// Renders a digest's report (as the database made it) for a member of `group`; `names`
    /// turns unit, area and agency codes into names, `link` makes an issue's link. `day` is shown
    /// as given; times and durations as ``Wording`` writes them.
    public func renderDigest(report: JSONValue, group: String, day: String, locale: PersonLocale, recipient: String, timeZone: TimeZone,
                             names: (String) -> String?, link: (Int) -> String) -> RenderedMessage? {
        let vi = locale == .vi
        let wording = Wording(locale: locale, timeZone: timeZone)
        guard case .object(let r) = report else { return nil }
        func int(_ value: JSONValue?) -> Int { if case .number(let n)? = value { return Int(n) } else { return 0 } }
        func object(_ value: JSONValue?) -> [String: JSONValue] { if case .object(let o)? = value { return o } else { return [:] } }
        func rows(_ key: String, limit: Int) -> [[String: Any]] {
            guard case .array(let items)? = r[key] else { return [] }
            return items.prefix(limit).map { item in
                let o = object(item)
                let code: String = if case .string(let c)? = o["code"] { c } else { "?" }
                return ["name": names(code) ?? code, "open": "\(int(o["open"]))", "overdue": "\(int(o["overdue"]))", "resolved": "\(int(o["resolved"]))"]
            }
        }
        func duration(_ value: JSONValue?) -> String {
            guard case .number(let seconds)? = value, seconds.isFinite, seconds.magnitude < 1e15 else { return vi ? "chưa có số liệu" : "no data" }
            return wording.duration(seconds: Int(seconds))
        }
        let totals = object(r["totals"])
        let oldest: [[String: Any]] = {
            guard case .array(let items)? = r["oldest_overdue"] else { return [] }
            return items.map { item in
                let o = object(item)
                let unit: String = if case .string(let u)? = o["unit"] { u } else { "?" }
                let title: String = if case .string(let t)? = o["title"] { t } else { "" }
                var due = ""
                if case .string(let text)? = o["due_at"], let date = Self.parseTimestamp(text) { due = wording.dateTime(date) }
                return ["id": "\(int(o["id"]))", "title": title, "unit": names(unit) ?? unit, "due": due, "level": "\(int(o["level"]))",
                        "link": link(int(o["id"]))]
            }
        }()
        let values: [String: Any] = [
            "recipient": recipient, "group": names(group) ?? group, "day": day,
            "open": "\(int(totals["open"]))", "overdue": "\(int(totals["overdue"]))", "resolved": "\(int(totals["resolved"]))",
            "areas": rows("by_area", limit: 50), "agencies": rows("by_agency", limit: 50), "units": rows("by_unit", limit: 20),
            "oldest": oldest,
            "ack_median": duration(object(r["time_to_acknowledge"])["median_seconds"]), "ack_p90": duration(object(r["time_to_acknowledge"])["p90_seconds"]),
            "resolve_median": duration(object(r["time_to_resolve"])["median_seconds"]), "resolve_p90": duration(object(r["time_to_resolve"])["p90_seconds"]),
        ]
        let prefix = "\(locale.rawValue).digest"
        guard let subject = library.render(values, withTemplate: prefix + ".subject"),
              let text = library.render(values, withTemplate: prefix + ".text"),
              let html = library.render(values, withTemplate: prefix + ".html") else { return nil }
        return RenderedMessage(subject: subject, text: text, html: html)
    }

    /// Renders a periodic report's headline figures for a member of `group` (its name):
    /// `period` covers the report, `figures` are the counts as the digest service stored them
    /// (`received`, `acknowledged_on_time`, `resolved_on_time`, `overdue`), `link` opens the
    /// full report.
    public func renderPeriodReport(period: SubscriptionPeriod, figures: [String: Int], group: String, locale: PersonLocale, recipient: String,
                                   link: String) -> RenderedMessage? {
        let vi = locale == .vi
        let name = switch period.kind {
        case .weekly: vi ? "tuần" : "Weekly"
        case .monthly: vi ? "tháng" : "Monthly"
        }
        var values: [String: Any] = ["recipient": recipient, "group": group, "period": name, "range": period.dayRange, "link": link]
        for key in ["received", "acknowledged_on_time", "resolved_on_time", "overdue"] { values[key] = "\(figures[key] ?? 0)" }
        let prefix = "\(locale.rawValue).report"
        guard let subject = library.render(values, withTemplate: prefix + ".subject"),
              let text = library.render(values, withTemplate: prefix + ".text"),
              let html = library.render(values, withTemplate: prefix + ".html") else { return nil }
        return RenderedMessage(subject: subject, text: text, html: html)
    }

    /// PostgreSQL's JSON rendering of a timestamptz, such as `2025-06-17T08:30:00.123456+00:00`.
    static func parseTimestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        // More than three fractional digits: drop the extra ones.
        if let dot = text.firstIndex(of: "."), let zone = text[dot...].firstIndex(where: { $0 == "+" || $0 == "-" || $0 == "Z" }) {
            let trimmed = String(text[..<text.index(dot, offsetBy: min(4, text.distance(from: dot, to: zone)))]) + String(text[zone...])
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.date(from: trimmed)
        }
        return nil
    }
}
