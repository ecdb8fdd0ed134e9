public import EscalationCore
public import EscalationDelivery
public import EscalationStore
import Foundation
public import Logging
import Metrics
import PostgresNIO
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
    /// Rows leased per round.
    public var batchSize: Int = 50
    /// Messages being sent at once (SMTP sessions or webhook posts).
    public var concurrency: Int = 8
    /// The most messages in flight: a send started and its outcome not yet committed (being sent,
    /// or sent and its statement not yet answered). Only these can go out again after a crash, so
    /// this is the most one crash repeats; usually far fewer are (a statement written to the
    /// connection commits even if the daemon dies). Room for the ones being sent and for those in
    /// statements that wait for a slow flush (10-20 ms on a loaded host), so that sends go on
    /// meanwhile.
    public var inFlightLimit: Int = 24
    /// Statements recording outcomes at once: an outcome that completes while all are busy waits
    /// for the next free one, and that wait is what a crash can repeat.
    public var recordLanes: Int = 4
    /// How long a lease lasts; a sender that has not recorded an outcome by then has lost the row.
    public var leaseSeconds: Int = 120
    public var retry = RetryPolicy()
    /// The longest the deliverer sleeps without looking.
    public var pollInterval: Duration = .seconds(2)

    public init() {}
}

/// Sends what the outbox holds: leases due rows (the store), composes and sends each in the
/// recipient's language (``MessageSender``), and records the outcome (the store), retrying with
/// backoff and parking what keeps failing (or can never succeed) as dead.
///
/// Woken by `outbox` notifications (written with the rows), after every reconnect, by a timer at
/// the earliest retry, and by the poll interval.
public final class DelivererService: Service {
    private let store: DeliveryStore
    private let client: Database
    private let cache: RoutingTableCache
    private let sender: MessageSender
    /// Makes the links of invitation and reset emails as they are composed.
    private let accounts: AccountStore
    private let configuration: DelivererConfiguration
    private let hooks: TestHooks
    private let logger: Logger
    /// Admits the sends and records their outcomes, across rounds.
    private let recorder: OutcomeRecorder
    private let wake: WakeSignal
    private let timer = WakeTimer()
    private let attemptsRecorder = Recorder(label: "escalated_delivery_attempts")
    private let queueAge = Recorder(label: "escalated_delivery_queue_age_seconds")

    public init(store: DeliveryStore, client: Database, cache: RoutingTableCache, templates: MessageTemplates,
                transport: (any MailTransport)?, configuration: DelivererConfiguration, accountSettings: AccountSettings = AccountSettings(),
                hooks: TestHooks = TestHooks(), logger: Logger) {
        self.store = store
        self.accounts = AccountStore(client: client, settings: accountSettings)
        self.client = client
        self.cache = cache
        self.sender = MessageSender(
            composer: MessageComposer(templates: templates, publicURL: configuration.publicURL),
            mail: configuration.mail == nil ? nil : transport, from: configuration.mail?.from,
            webhook: configuration.webhook.map(WebhookTransport.init(settings:)))
        self.configuration = configuration
        self.hooks = hooks
        self.logger = logger
        let wake = WakeSignal()
        self.wake = wake
        recorder = OutcomeRecorder(store: store, concurrency: configuration.concurrency, limit: configuration.inFlightLimit,
                                   lanes: configuration.recordLanes,
                                   // A retry recorded after the deliverer planned its next look: look again.
                                   afterRetry: { wake.signal() }, logger: logger)
    }

    /// Rows may be waiting.
    public func wakeUp() {
        wake.signal()
    }

    /// The channels this daemon serves.
    var channels: [DeliveryChannel] { sender.channels }

    public func run() async throws {
        if sender.mail == nil { logger.warning("no email transport configured (ESCALATED_SMTP_URL or ESCALATED_MAIL_DIR): emails wait in the outbox") }
        if sender.webhook == nil { logger.warning("no webhook secret configured (ESCALATED_WEBHOOK_SECRET): webhooks wait in the outbox") }
        guard !channels.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        await wake.runUntilShutdown(timer: timer, work: { await drainBatches(workers: 1) { await self.deliverOneBatch() } },
                                    plan: { await planNextLook() })
        // The sends still running finish, and every outcome is recorded, before the deliverer stops.
        await recorder.close()
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
            // Each outcome is recorded as soon as its send completes, in a statement of its own,
            // or with the others that complete while every recording lane is busy
            // (OutcomeRecorder). At most `concurrency` sends run at
            // once; a send frees its place when it completes, but a new one starts only while
            // fewer than `inFlightLimit` messages are in flight (being sent, or sent and not yet
            // committed): the most one crash can repeat. The round ends once its last send has
            // started: the next lease overlaps the last sends and commits. After a failed
            // statement the rest of the round stays leased, unsent, and comes due again when the
            // lease runs out.
            let failures = await recorder.failures
            let hold = hooks.delivererHoldAfterSend
            let directory = compiled.directory
            for row in leased {
                await recorder.admit()
                guard await recorder.failures == failures else {
                    await recorder.withdraw()
                    try? await Task.sleep(for: .milliseconds(500))
                    return false
                }
                Task {
                    guard let outcome = await self.deliver(row, directory: directory) else {
                        await self.recorder.withdraw()
                        return
                    }
                    if let hold { try? await Task.sleep(for: hold) }
                    await self.recorder.submit(outcome)
                }
            }
            return leased.count == configuration.batchSize
        } catch {
            logger.error("delivery batch failed; will retry", metadata: NotificationListener.errorMetadata(error))
            try? await Task.sleep(for: .milliseconds(500))
            return false
        }
    }

    /// Sends one leased row; returns its outcome to record, or nil when this daemon does not serve its channel.
    private func deliver(_ leased: OutboxItem, directory: Directory) async -> DeliveryStore.Outcome? {
        queueAge.record(leased.waitedSeconds)
        var row = leased
        if MessageTemplates.accountKinds.contains(row.kind), let purpose = LinkPurpose(rawValue: row.kind), let id = Int64(row.recipientCode) {
            // The link is made now, for this email; none is stored in the outbox.
            do {
                if let secret = try await accounts.linkForEmail(accountID: id, purpose: purpose, logger: logger) { row.data = .object(["secret": .string(secret)]) }
            } catch {
                return DeliveryStore.Outcome(id: row.id, decision: configuration.retry.decide(.transient("could not make the link"), attempt: row.attempts, jitter: 0.5),
                                             answer: "could not make the link", transport: "email")
            }
        }
        guard let (outcome, transportName) = await sender.send(row, directory: directory) else { return nil }
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
