public import EscalationCore
public import EscalationDelivery
public import EscalationStore
import Foundation
public import Logging
import Metrics
public import PostgresNIO
public import ServiceLifecycle

/// How the email hook sends.
public struct MailConfiguration: Sendable {
    /// `smtp`: a server; `file`: `.eml` files in a folder (the demo's default).
    public enum Transport: Sendable {
        case smtp(SMTPSettings)
        case folder(String)
    }

    public var transport: Transport
    public var from: MailAddress

    public init(transport: Transport, from: MailAddress) {
        self.transport = transport
        self.from = from
    }
}

/// How the deliverer claims and retries.
public struct DelivererConfiguration: Sendable {
    /// nil: no email transport is configured; email rows wait in the outbox, untouched.
    public var mail: MailConfiguration?
    /// nil: no webhook secret is configured; webhook rows wait in the outbox, untouched.
    public var webhook: WebhookSettings?
    /// Where links in messages point: the API's base URL.
    public var publicURL: String = "http://127.0.0.1:8080"
    /// Rows leased per round, and sent at once.
    public var batchSize: Int = 50
    public var concurrency: Int = 8
    /// How long a lease lasts; a sender that has not recorded an outcome by then has lost the row.
    public var leaseSeconds: Int = 120
    public var retry = RetryPolicy()
    /// The longest the deliverer sleeps without looking.
    public var pollInterval: Duration = .seconds(2)
    /// Test hook: wait this long after sending a batch, before recording its outcomes. Never set in production.
    public var holdAfterSend: Duration?

    public init() {}
}

/// Sends what the outbox holds: leases due rows, renders each message from its template in the
/// recipient's language, sends it, and records the outcome, retrying with backoff and parking
/// what keeps failing (or can never succeed) as dead.
///
/// Woken by `outbox` notifications (written with the rows), after every reconnect, by a timer at
/// the earliest retry, and by the poll interval.
public final class DelivererService: Service {
    private let store: DeliveryStore
    private let client: PostgresClient
    private let cache: RoutingTableCache
    private let templates: MessageTemplates
    private let transport: (any MailTransport)?
    private let webhook: WebhookTransport?
    private let configuration: DelivererConfiguration
    private let logger: Logger
    private let wake = WakeSignal()
    private let timer = WakeTimer()
    private let attemptsRecorder = Recorder(label: "escalated_delivery_attempts")
    private let queueAge = Recorder(label: "escalated_delivery_queue_age_seconds")

    public init(store: DeliveryStore, client: PostgresClient, cache: RoutingTableCache, templates: MessageTemplates,
                transport: (any MailTransport)?, configuration: DelivererConfiguration, logger: Logger) {
        self.store = store
        self.client = client
        self.cache = cache
        self.templates = templates
        self.transport = transport
        self.webhook = configuration.webhook.map(WebhookTransport.init(settings:))
        self.configuration = configuration
        self.logger = logger
    }

    /// Rows may be waiting.
    public func wakeUp() {
        wake.signal()
    }

    /// The channels this daemon serves.
    var channels: [DeliveryChannel] { (transport == nil ? [] : [.email]) + (webhook == nil ? [] : [.webhook]) }

    public func run() async throws {
        if transport == nil { logger.warning("no email transport configured (ESCALATED_SMTP_URL or ESCALATED_MAIL_DIR): emails wait in the outbox") }
        if webhook == nil { logger.warning("no webhook secret configured (ESCALATED_WEBHOOK_SECRET): webhooks wait in the outbox") }
        guard !channels.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        await wake.runUntilShutdown(timer: timer, work: { await drainBatches(workers: 1) { await self.deliverOneBatch() } },
                                    plan: { await planNextLook() })
        logger.info("deliverer stopped")
    }

    /// Leases and sends one batch; true when it was full.
    private func deliverOneBatch() async -> Bool {
        do {
            let leased = try await store.lease(channels: channels, limit: configuration.batchSize, leaseSeconds: configuration.leaseSeconds, logger: logger)
            guard let first = leased.first else { return false }
            let compiled = try await client.withConnection { connection in
                try await self.cache.compiled(revision: first.revision, connection: connection, logger: self.logger)
            }
            // Send with bounded concurrency, then record every outcome in one statement (one
            // commit per batch, not per message). A crash before it leaves the batch leased: its
            // messages go out again when the lease runs out, each at most once more.
            let outcomes = await withTaskGroup(of: DeliveryStore.Outcome?.self) { group in
                var running = 0
                var outcomes: [DeliveryStore.Outcome] = []
                for row in leased {
                    if running >= configuration.concurrency, let next = await group.next() {
                        running -= 1
                        if let next { outcomes.append(next) }
                    }
                    group.addTask { await self.deliver(row, directory: compiled.directory) }
                    running += 1
                }
                for await next in group { if let next { outcomes.append(next) } }
                return outcomes
            }
            if let hold = configuration.holdAfterSend { try? await Task.sleep(for: hold) }
            let recorded = try await store.record(outcomes, logger: logger)
            for outcome in outcomes where !recorded.contains(outcome.id) {
                logger.warning("a delivery's lease ran out before its outcome was recorded; it may go out once more", metadata: ["delivery.id": "\(outcome.id)"])
            }
            return leased.count == configuration.batchSize
        } catch {
            logger.error("delivery batch failed; will retry", metadata: NotificationListener.errorMetadata(error))
            try? await Task.sleep(for: .milliseconds(500))
            return false
        }
    }

    /// Sends one leased row; returns its outcome to record, or nil when this daemon does not serve its channel.
    private func deliver(_ row: DeliveryStore.Leased, directory: Directory) async -> DeliveryStore.Outcome? {
        queueAge.record(row.waitedSeconds)
        let outcome: DeliveryOutcome
        let transportName: String
        switch row.channel {
        case .email:
            guard let transport, let mail = configuration.mail else { return nil }
            transportName = transport.name
            switch Self.message(for: row, directory: directory, from: mail.from, templates: templates, publicURL: configuration.publicURL) {
            case .failure(let reason): outcome = .permanent(reason.text)
            case .success(let message): outcome = await transport.send(message)
            }
        case .webhook:
            guard let webhook else { return nil }
            transportName = "webhook"
            if row.recipientKind == .agency, let url = directory.agencies.first(where: { $0.code == row.recipientCode })?.webhook {
                outcome = await webhook.send(url: url, body: Self.webhookBody(for: row, directory: directory, publicURL: configuration.publicURL), deliveryID: row.id)
            } else {
                outcome = .permanent("no webhook for \(row.recipientKind.rawValue) '\(row.recipientCode)' in the directory")
            }
        }
        let decision = configuration.retry.decide(outcome, attempt: row.attempts, jitter: Double.random(in: 0...1))
        let answer: String
        switch outcome {
        case .sent(let text), .transient(let text), .permanent(let text): answer = text
        }
        let result: String
        switch decision {
        case .sent: result = "sent"
        case .retry: result = "retry"
        case .dead: result = "dead"
        }
        Counter(label: "escalated_deliveries_total", dimensions: [("transport", transportName), ("outcome", result)]).increment()
        // Attempts a delivery took, recorded once it is final (sent or dead).
        if case .retry = decision {} else { attemptsRecorder.record(row.attempts) }
        let metadata: Logger.Metadata = ["delivery.id": "\(row.id)", "delivery.outcome": "\(result)", "delivery.attempt": "\(row.attempts)"]
        if decision == .sent { logger.debug("delivered", metadata: metadata) } else { logger.warning("delivery failed: \(answer)", metadata: metadata) }
        return DeliveryStore.Outcome(id: row.id, decision: decision, answer: answer, transport: transportName)
    }

    /// An issue's address in the API, under the configured public URL.
    static func issueLink(_ publicURL: String, _ id: Int64) -> String {
        (publicURL.hasSuffix("/") ? publicURL : publicURL + "/") + "v1/issues/\(id)"
    }

    /// A digest email: the report the database made, for one member.
    static func digest(for row: DeliveryStore.Leased, directory: Directory, from: MailAddress, templates: MessageTemplates,
                       publicURL: String) -> Result<MailMessage, Unsendable> {
        guard let person = directory.people.first(where: { $0.code == row.recipientCode }),
              let email = person.email, let address = MailAddress(name: person.name, address: email) else {
            return .failure(Unsendable(text: "no email address for person '\(row.recipientCode)' in the directory"))
        }
        guard case .object(let data) = row.data, let report = data["report"],
              case .string(let group)? = data["group"], case .string(let day)? = data["day"] else {
            return .failure(Unsendable(text: "the digest's report is missing"))
        }
        var names: [String: String] = [:]
        for unit in directory.units { names[unit.code] = unit.name }
        for area in directory.areas { names[area.code] = area.name }
        for agency in directory.agencies { names[agency.code] = agency.name }
        for group in directory.groups { names[group.code] = group.name }
        let zone = directory.timeZone
        guard let rendered = templates.renderDigest(report: report, group: group, day: day, locale: person.locale, recipient: person.name,
                                                    timeZone: zone, names: { names[$0] }, link: { issueLink(publicURL, Int64($0)) }) else {
            return .failure(Unsendable(text: "no template for \(person.locale.rawValue).digest"))
        }
        return .success(MailMessage(
            from: from, to: [address], subject: rendered.subject, text: rendered.text, html: rendered.html,
            messageID: MailMessage.messageID(delivery: row.id, issue: nil, domain: from.domain), date: Date(),
            extraHeaders: [("X-Escalated-Kind", "digest"), ("X-Escalated-Digest-Group", group)]))
    }

    /// The JSON a webhook receives: the delivery, the issue, the recipient and the causing event.
    static func webhookBody(for row: DeliveryStore.Leased, directory: Directory, publicURL: String) -> Data {
        var issue: [String: Any] = [
            "id": row.issueID ?? 0, "unit": row.unit, "sector": row.sector, "severity": row.severity.rawValue,
            "title": row.title, "description": row.description,
            "url": issueLink(publicURL, row.issueID ?? 0),
        ]
        if let name = directory.units.first(where: { $0.code == row.unit })?.name { issue["unit_name"] = name }
        let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        if let due = row.acknowledgeDue { issue["acknowledge_due_at"] = due.formatted(iso) }
        if let due = row.resolveDue { issue["resolve_due_at"] = due.formatted(iso) }
        let event = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(row.data))) ?? [:]
        let body: [String: Any] = [
            "delivery_id": row.id, "kind": row.kind, "issue": issue,
            "recipient": ["kind": row.recipientKind.rawValue, "code": row.recipientCode], "event": event,
        ]
        return (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    struct Unsendable: Error {
        var text: String
    }

    /// The email for a leased row, or why there can be none.
    static func message(for row: DeliveryStore.Leased, directory: Directory, from: MailAddress, templates: MessageTemplates,
                        publicURL: String) -> Result<MailMessage, Unsendable> {
        if row.kind == "digest" { return digest(for: row, directory: directory, from: from, templates: templates, publicURL: publicURL) }
        var recipients: [MailAddress] = []
        var name = row.recipientCode
        var locale = PersonLocale.vi
        switch row.recipientKind {
        case .person:
            guard let person = directory.people.first(where: { $0.code == row.recipientCode }) else {
                return .failure(Unsendable(text: "person '\(row.recipientCode)' is no longer in the directory"))
            }
            name = person.name
            locale = person.locale
            if let email = person.email, let address = MailAddress(name: person.name, address: email) { recipients.append(address) }
        case .agency:
            guard let agency = directory.agencies.first(where: { $0.code == row.recipientCode }) else {
                return .failure(Unsendable(text: "agency '\(row.recipientCode)' is no longer in the directory"))
            }
            name = agency.name
            recipients = agency.emails.compactMap { MailAddress(name: agency.name, address: $0) }
        }
        guard !recipients.isEmpty else { return .failure(Unsendable(text: "no email address for \(row.recipientKind.rawValue) '\(row.recipientCode)' in the directory")) }
        let sector = directory.sectors.first { $0.code == row.sector }
        var context = NotificationContext(
            kind: row.kind, issueID: row.issueID ?? 0, title: row.title, description: row.description, unit: row.unit,
            unitName: directory.units.first { $0.code == row.unit }?.name ?? row.unit, sector: row.sector,
            sectorName: (sector?.nameVi ?? row.sector, sector?.nameEn ?? row.sector), severity: row.severity,
            agencyName: row.agency.flatMap { code in directory.agencies.first { $0.code == code }?.name } ?? row.agency,
            acknowledgeDue: row.acknowledgeDue, resolveDue: row.resolveDue)
        if case .object(let data) = row.data {
            if case .number(let level)? = data["level"] { context.level = Int(level) }
            if case .number(let reminder)? = data["repeat"], reminder > 0 { context.reminder = Int(reminder) }
            if case .string(let clock)? = data["clock"] { context.clock = DeadlineClock(rawValue: clock) }
            context.due = row.escalationDue
        }
        let zone = directory.timeZone
        guard let rendered = templates.render(context, locale: locale, recipient: name, timeZone: zone, link: issueLink(publicURL, context.issueID)) else {
            return .failure(Unsendable(text: "no template for \(locale.rawValue).\(row.kind)"))
        }
        return .success(MailMessage(
            from: from, to: recipients, subject: rendered.subject, text: rendered.text, html: rendered.html,
            messageID: MailMessage.messageID(delivery: row.id, issue: row.issueID, domain: from.domain), date: Date(),
            extraHeaders: [("X-Escalated-Issue", "\(context.issueID)"), ("X-Escalated-Kind", row.kind)]))
    }

    private func planNextLook() async {
        var seconds: Double?
        do {
            seconds = try await store.secondsUntilNextDue(channels: channels, logger: logger)
        } catch {
            logger.warning("could not read the next delivery time; polling", metadata: NotificationListener.errorMetadata(error))
        }
        timer.schedule(wake, secondsUntilDue: seconds, poll: configuration.pollInterval, retryDue: .milliseconds(100))
    }
}
