public import EscalationCore
public import Foundation

/// Why an outbox item can never be sent as it stands (its row is parked as dead, saying so).
public struct Unsendable: Error, Sendable, Equatable {
    public var text: String

    public init(text: String) {
        self.text = text
    }
}

/// Turns an ``OutboxItem`` into what goes out: an email in the recipient's language (routed,
/// escalated, reminder, digest, periodic report) or a webhook's JSON body. Pure: it reads the directory it is
/// given and the templates, and never touches a database or a network.
public struct MessageComposer: Sendable {
    public let templates: MessageTemplates
    /// Where links in messages point: the daemon's public URL.
    public let publicURL: String

    public init(templates: MessageTemplates, publicURL: String) {
        self.templates = templates
        self.publicURL = publicURL
    }

    /// An issue's API address under the public URL (webhook bodies: other systems read it).
    public func issueLink(_ id: Int64) -> String {
        (publicURL.hasSuffix("/") ? publicURL : publicURL + "/") + "v1/issues/\(id)"
    }

    /// An issue's web page under the public URL (emails and digests: people open it).
    public func pageLink(_ id: Int64) -> String {
        (publicURL.hasSuffix("/") ? publicURL : publicURL + "/") + "issues/\(id)"
    }

    /// The email for `item` from `from`, or why there can be none.
    public func email(for item: OutboxItem, directory: Directory, from: MailAddress, date: Date = Date()) -> Result<MailMessage, Unsendable> {
        if item.kind == "digest" { return digest(for: item, directory: directory, from: from, date: date) }
        if item.kind == "report" { return periodReport(for: item, directory: directory, from: from, date: date) }
        if MessageTemplates.accountKinds.contains(item.kind) { return accountEmail(for: item, directory: directory, from: from, date: date) }
        var recipients: [MailAddress] = []
        var name = item.recipientCode
        var locale = PersonLocale.vi
        switch item.recipientKind {
        case .person:
            guard let person = directory.people.first(where: { $0.code == item.recipientCode }) else {
                return .failure(Unsendable(text: "person '\(item.recipientCode)' is no longer in the directory"))
            }
            name = person.name
            locale = person.locale
            if let email = person.email, let address = MailAddress(name: person.name, address: email) { recipients.append(address) }
        case .agency:
            guard let agency = directory.agencies.first(where: { $0.code == item.recipientCode }) else {
                return .failure(Unsendable(text: "agency '\(item.recipientCode)' is no longer in the directory"))
            }
            name = agency.name
            recipients = agency.emails.compactMap { MailAddress(name: agency.name, address: $0) }
        case .account:
            guard let account = item.account else {
                return .failure(Unsendable(text: "account \(item.recipientCode) is disabled or gone"))
            }
            name = account.name
            locale = account.locale
            if let address = MailAddress(name: account.name, address: account.email) { recipients.append(address) }
        case .unit:
            // The store writes a unit's messages to each of its accounts; a row for the unit itself is not sendable.
            return .failure(Unsendable(text: "unit '\(item.recipientCode)' is not an address (its accounts are)"))
        }
        guard !recipients.isEmpty else {
            return .failure(Unsendable(text: "no email address for \(item.recipientKind.rawValue) '\(item.recipientCode)' in the directory"))
        }
        let sector = directory.sectors.first { $0.code == item.sector }
        var context = NotificationContext(
            kind: item.kind, issueID: item.issueID ?? 0, title: item.title, description: item.description, unit: item.unit,
            unitName: directory.units.first { $0.code == item.unit }?.name ?? item.unit, sector: item.sector,
            sectorName: (sector?.nameVi ?? item.sector, sector?.nameEn ?? item.sector), severity: item.severity,
            agencyName: item.agency.flatMap { code in directory.agencies.first { $0.code == code }?.name } ?? item.agency,
            acknowledgeDue: item.acknowledgeDue, resolveDue: item.resolveDue)
        if case .object(let data) = item.data {
            if case .number(let level)? = data["level"] { context.level = Int(level) }
            if case .number(let reminder)? = data["repeat"], reminder > 0 { context.reminder = Int(reminder) }
            if case .string(let clock)? = data["clock"] { context.clock = DeadlineClock(rawValue: clock) }
            context.due = item.escalationDue
        }
        if MessageTemplates.activityKinds.contains(item.kind) {
            // What a person did, said as the issue's history says it, in the reader's language.
            context.kind = "activity"
            let wording = Wording(locale: locale, directory: directory)
            var actor = "", accountName: String?
            if case .object(let data) = item.data {
                if case .string(let text)? = data["actor"] { actor = text }
                if case .string(let text)? = data["account_name"] { accountName = text }
            }
            let event = EventWording(kind: item.kind, actor: actor, accountName: accountName, data: item.data, at: date)
            context.sentence = wording.sentence(event)
            context.detail = event.detail
        }
        guard let rendered = templates.render(context, locale: locale, recipient: name, timeZone: directory.timeZone,
                                              link: pageLink(context.issueID)) else {
            return .failure(Unsendable(text: "no template for \(locale.rawValue).\(item.kind)"))
        }
        return .success(MailMessage(
            from: from, to: recipients, subject: rendered.subject, text: rendered.text, html: rendered.html,
            messageID: MailMessage.messageID(delivery: item.id, issue: item.issueID, domain: from.domain), date: date,
            extraHeaders: [("X-Escalated-Issue", "\(context.issueID)"), ("X-Escalated-Kind", item.kind)]))
    }

    /// An invitation or a reset: the link the deliverer made for this email (`data.secret`) to the account's address.
    func accountEmail(for item: OutboxItem, directory: Directory, from: MailAddress, date: Date) -> Result<MailMessage, Unsendable> {
        guard let account = item.account, let address = MailAddress(name: account.name, address: account.email) else {
            return .failure(Unsendable(text: "account \(item.recipientCode) is disabled or gone"))
        }
        guard case .object(let data) = item.data, case .string(let secret)? = data["secret"], let purpose = LinkPurpose(rawValue: item.kind) else {
            return .failure(Unsendable(text: "the \(item.kind) email has no link"))
        }
        let link = (publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL) + purpose.path(secret: secret)
        let wording = Wording(locale: account.locale, timeZone: directory.timeZone)
        let expires = wording.dateTime(date.addingTimeInterval(Double(purpose == .invitation ? LinkPurpose.invitationLifetimeSeconds : LinkPurpose.resetLifetimeSeconds)))
        guard let rendered = templates.renderAccountEmail(kind: item.kind, locale: account.locale, recipient: account.name, link: link, expires: expires) else {
            return .failure(Unsendable(text: "no template for \(account.locale.rawValue).account"))
        }
        return .success(MailMessage(
            from: from, to: [address], subject: rendered.subject, text: rendered.text, html: rendered.html,
            messageID: MailMessage.messageID(delivery: item.id, issue: nil, domain: from.domain), date: date,
            extraHeaders: [("X-Escalated-Kind", item.kind)]))
    }

    /// A digest email: the report the database made, for one member of the group.
    func digest(for item: OutboxItem, directory: Directory, from: MailAddress, date: Date) -> Result<MailMessage, Unsendable> {
        guard let person = directory.people.first(where: { $0.code == item.recipientCode }),
              let email = person.email, let address = MailAddress(name: person.name, address: email) else {
            return .failure(Unsendable(text: "no email address for person '\(item.recipientCode)' in the directory"))
        }
        guard case .object(let data) = item.data, let report = data["report"],
              case .string(let group)? = data["group"], case .string(let day)? = data["day"] else {
            return .failure(Unsendable(text: "the digest's report is missing"))
        }
        var names: [String: String] = [:]
        for unit in directory.units { names[unit.code] = unit.name }
        for area in directory.areas { names[area.code] = area.name }
        for agency in directory.agencies { names[agency.code] = agency.name }
        for group in directory.groups { names[group.code] = group.name }
        // The day as the reader writes dates (`01/12/2026`, `1 Dec 2026`); the report says `2026-12-01`.
        let dayText = LocalDate(day).map { Wording(locale: person.locale, timeZone: directory.timeZone).date($0) } ?? day
        guard let rendered = templates.renderDigest(report: report, group: group, day: dayText, locale: person.locale, recipient: person.name,
                                                    timeZone: directory.timeZone, names: { names[$0] },
                                                    link: { pageLink(Int64($0)) }) else {
            return .failure(Unsendable(text: "no template for \(person.locale.rawValue).digest"))
        }
        return .success(MailMessage(
            from: from, to: [address], subject: rendered.subject, text: rendered.text, html: rendered.html,
            messageID: MailMessage.messageID(delivery: item.id, issue: nil, domain: from.domain), date: date,
            extraHeaders: [("X-Escalated-Kind", "digest"), ("X-Escalated-Digest-Group", group)]))
    }

    /// The web page of the summary report over local days `from` to `to`, both included:
    /// `<publicURL>/report?from=YYYY-MM-DD&to=YYYY-MM-DD`.
    public func reportLink(from: LocalDate, to: LocalDate) -> String {
        (publicURL.hasSuffix("/") ? publicURL : publicURL + "/") + "report?from=\(from)&to=\(to)"
    }

    /// A periodic report email: the figures the digest service stored, for one member of the group.
    func periodReport(for item: OutboxItem, directory: Directory, from: MailAddress, date: Date) -> Result<MailMessage, Unsendable> {
        guard let person = directory.people.first(where: { $0.code == item.recipientCode }),
              let email = person.email, let address = MailAddress(name: person.name, address: email) else {
            return .failure(Unsendable(text: "no email address for person '\(item.recipientCode)' in the directory"))
        }
        guard case .object(let data) = item.data, case .string(let group)? = data["group"],
              case .string(let kindText)? = data["period"], let kind = ReportKind(rawValue: kindText),
              case .string(let fromText)? = data["from"], let start = LocalDate(fromText),
              case .string(let toText)? = data["to"], let end = LocalDate(toText),
              case .object(let numbers)? = data["figures"] else {
            return .failure(Unsendable(text: "the periodic report's figures are missing"))
        }
        var figures: [String: Int] = [:]
        for (key, value) in numbers { if case .number(let n) = value, n.isFinite, n.magnitude < 1e15 { figures[key] = Int(n) } }
        let period = SubscriptionPeriod(kind: kind, start: start, end: end)
        let groupName = directory.groups.first { $0.code == group }?.name ?? group
        guard let rendered = templates.renderPeriodReport(period: period, figures: figures, group: groupName, locale: person.locale,
                                                          recipient: person.name, link: reportLink(from: start, to: end)) else {
            return .failure(Unsendable(text: "no template for \(person.locale.rawValue).report"))
        }
        return .success(MailMessage(
            from: from, to: [address], subject: rendered.subject, text: rendered.text, html: rendered.html,
            messageID: MailMessage.messageID(delivery: item.id, issue: nil, domain: from.domain), date: date,
            extraHeaders: [("X-Escalated-Kind", "report"), ("X-Escalated-Report-Group", group), ("X-Escalated-Report-Period", "\(period)")]))
    }

    /// Where `item`'s webhook goes and the JSON it receives (the delivery, the issue, the
    /// recipient and the causing event), or why there is none.
    public func webhook(for item: OutboxItem, directory: Directory) -> Result<(url: String, body: Data), Unsendable> {
        guard item.recipientKind == .agency, let url = directory.agencies.first(where: { $0.code == item.recipientCode })?.webhook else {
            return .failure(Unsendable(text: "no webhook for \(item.recipientKind.rawValue) '\(item.recipientCode)' in the directory"))
        }
        return .success((url, webhookBody(for: item, directory: directory)))
    }

    /// The JSON a webhook receives, keys sorted.
    public func webhookBody(for item: OutboxItem, directory: Directory) -> Data {
        var issue: [String: Any] = [
            "id": item.issueID ?? 0, "unit": item.unit, "sector": item.sector, "severity": item.severity.rawValue,
            "title": item.title, "description": item.description,
            "url": issueLink(item.issueID ?? 0),
        ]
        if let name = directory.units.first(where: { $0.code == item.unit })?.name { issue["unit_name"] = name }
        let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        if let due = item.acknowledgeDue { issue["acknowledge_due_at"] = due.formatted(iso) }
        if let due = item.resolveDue { issue["resolve_due_at"] = due.formatted(iso) }
        let event = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(item.data))) ?? [:]
        let body: [String: Any] = [
            "delivery_id": item.id, "kind": item.kind, "issue": issue,
            "recipient": ["kind": item.recipientKind.rawValue, "code": item.recipientCode], "event": event,
        ]
        return (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
    }
}
