import EscalationCore
import EscalationDelivery
public import EscalationStore
import EscalationWeb
import Foundation

/// The daemon's settings given as command-line flags; each wins over its environment variable.
public struct DaemonFlags: Sendable {
    /// `--http HOST:PORT` (ESCALATED_HTTP).
    public var http: String?
    /// `--log-level` (ESCALATED_LOG_LEVEL).
    public var logLevel: String?
    /// `--poll-interval` (ESCALATED_POLL_INTERVAL).
    public var pollInterval: String?
    /// `--batch-size` (ESCALATED_BATCH_SIZE).
    public var batchSize: Int?
    /// `--router-workers` (ESCALATED_ROUTER_WORKERS).
    public var routerWorkers: Int?

    public init(http: String? = nil, logLevel: String? = nil, pollInterval: String? = nil, batchSize: Int? = nil, routerWorkers: Int? = nil) {
        self.http = http
        self.logLevel = logLevel
        self.pollInterval = pollInterval
        self.batchSize = batchSize
        self.routerWorkers = routerWorkers
    }
}

extension DaemonConfiguration {
    /// The configuration from `flags`, then `environment`, then the defaults: the one place the
    /// daemon's environment variables are read (the README's configuration reference lists them).
    /// An empty variable counts as unset.
    public init(database: DatabaseSettings, flags: DaemonFlags = DaemonFlags(), environment: [String: String]) throws(SettingsError) {
        self.init(database: database)
        func value(_ flag: String?, _ name: String) -> String? {
            if let flag, !flag.isEmpty { return flag }
            return environment[name].flatMap { $0.isEmpty ? nil : $0 }
        }
        if let listen = value(nil, "ESCALATED_LISTEN_URL") {
            // Whether both reach the same database (a pooler may give it another name) is proven by the
            // listener's heartbeat: a NOTIFY sent through the pool must arrive on the LISTEN connection.
            listenDatabase = try DatabaseSettings(url: listen, variable: "ESCALATED_LISTEN_URL")
        }
        if let http = value(flags.http, "ESCALATED_HTTP") { (httpHost, httpPort) = try Self.parseHostPort(http) }
        if let level = value(flags.logLevel, "ESCALATED_LOG_LEVEL") { logLevel = try Self.parseLogLevel(level) }
        if let poll = value(flags.pollInterval, "ESCALATED_POLL_INTERVAL") {
            router.pollInterval = try Self.parseDuration(poll, name: "the poll interval")
            guard router.pollInterval <= .seconds(60) else { throw SettingsError("the poll interval must be at most 1m (got '\(poll)')") }
            escalator.pollInterval = router.pollInterval
        }
        deliverer.mail = try Self.mail(environment)
        if let secret = value(nil, "ESCALATED_WEBHOOK_SECRET") {
            guard secret.utf8.count >= 16 else { throw SettingsError("ESCALATED_WEBHOOK_SECRET must be at least 16 bytes long") }
            deliverer.webhook = WebhookSettings(secret: secret)
        }
        if let limit = value(nil, "ESCALATED_RATE_LIMIT") { (api.rateLimit, api.rateBurst) = try APIConfiguration.parseRateLimit(limit) }
        if let cache = value(nil, "ESCALATED_TOKEN_CACHE") { api.tokenCacheTime = try Self.parseDuration(cache, name: "ESCALATED_TOKEN_CACHE") }
        for (name, keyPath) in [("ESCALATED_HTTP_HEADER_TIMEOUT", \HTTPLimits.headerTimeout), ("ESCALATED_HTTP_BODY_TIMEOUT", \HTTPLimits.bodyTimeout),
                                ("ESCALATED_HTTP_IDLE_TIMEOUT", \HTTPLimits.idleTimeout)] {
            if let text = value(nil, name) { httpLimits[keyPath: keyPath] = try Self.parseDuration(text, name: name) }
        }
        if let cap = try Self.wholeNumber(nil, value(nil, "ESCALATED_HTTP_MAX_CONNECTIONS"), variable: "ESCALATED_HTTP_MAX_CONNECTIONS",
                                          label: "ESCALATED_HTTP_MAX_CONNECTIONS", range: 1...1_000_000) {
            httpLimits.maxConnections = cap
        }
        deliverer.publicURL = value(nil, "ESCALATED_PUBLIC_URL")
            ?? "http://\(httpHost.contains(":") ? "[\(httpHost)]" : httpHost):\(httpPort)"
        if let lease = value(nil, "ESCALATED_DELIVERY_LEASE") {
            deliverer.leaseSeconds = max(1, Int(try Self.parseDuration(lease, name: "ESCALATED_DELIVERY_LEASE").components.seconds))
        }
        if let batch = try Self.wholeNumber(flags.batchSize, value(nil, "ESCALATED_BATCH_SIZE"), variable: "ESCALATED_BATCH_SIZE",
                                            label: "the batch size", range: 1...10_000) {
            router.batchSize = batch
            escalator.batchSize = batch
        }
        if let workers = try Self.wholeNumber(flags.routerWorkers, value(nil, "ESCALATED_ROUTER_WORKERS"), variable: "ESCALATED_ROUTER_WORKERS",
                                              label: "the router workers", range: 1...16) {
            router.workers = workers
            escalator.workers = workers
        }
        if let interval = value(nil, "ESCALATED_MAINTENANCE_INTERVAL") {
            if ["0", "off"].contains(interval) {
                maintenance.interval = nil
            } else {
                maintenance.interval = try Self.parseDuration(interval, name: "ESCALATED_MAINTENANCE_INTERVAL")
            }
        }
        let ages: [(String, WritableKeyPath<RetentionPolicy, Duration>)] = [
            ("ESCALATED_RETAIN_DELIVERIES", \.sentDeliveries), ("ESCALATED_RETAIN_DEAD_DELIVERIES", \.deadDeliveries),
            ("ESCALATED_RETAIN_TOKENS", \.tokens), ("ESCALATED_RETAIN_DIGESTS", \.digests),
        ]
        for (name, path) in ages {
            if let text = value(nil, name) { maintenance.retention[keyPath: path] = try Self.parseAge(text, name: name) }
        }
        web.accounts = try AccountSettings(environment: environment)
        testHooks = try TestHooks(environment: environment)
    }

    /// The email hook from ESCALATED_SMTP_URL (or ESCALATED_MAIL_DIR, or `defaultFolder`) and
    /// ESCALATED_MAIL_FROM; nil when none is set.
    public static func mail(_ env: [String: String], defaultFolder: String? = nil) throws(SettingsError) -> MailConfiguration? {
        let fromText = env["ESCALATED_MAIL_FROM"].flatMap { $0.isEmpty ? nil : $0 } ?? "escalated@localhost.localdomain"
        guard let from = MailAddress(name: "escalated", address: fromText) else {
            throw SettingsError("ESCALATED_MAIL_FROM must be an email address such as escalated@example.org (got '\(fromText)')")
        }
        if let url = env["ESCALATED_SMTP_URL"], !url.isEmpty {
            var settings: SMTPSettings
            do {
                settings = try SMTPSettings(url: url)
            } catch {
                throw SettingsError(error.description)
            }
            if let ca = env["ESCALATED_SMTP_CA_FILE"], !ca.isEmpty {
                guard FileManager.default.isReadableFile(atPath: ca) else { throw SettingsError("ESCALATED_SMTP_CA_FILE: cannot read \(ca)") }
                settings.caFile = ca
            }
            return MailConfiguration(transport: .smtp(settings), from: from)
        }
        if let folder = env["ESCALATED_MAIL_DIR"].flatMap({ $0.isEmpty ? nil : $0 }) ?? defaultFolder {
            return MailConfiguration(transport: .folder(folder), from: from)
        }
        return nil
    }

    /// A whole-number setting: the flag, else the environment variable's text, checked against `range`.
    static func wholeNumber(_ flag: Int?, _ text: String?, variable: String, label: String, range: ClosedRange<Int>) throws(SettingsError) -> Int? {
        var number = flag
        if number == nil, let text {
            guard let parsed = Int(text) else { throw SettingsError("\(variable) must be a whole number (got '\(text)')") }
            number = parsed
        }
        if let number, !range.contains(number) {
            throw SettingsError("\(label) must be from \(range.lowerBound) to \(range.upperBound) (got \(number))")
        }
        return number
    }
}

/// Hooks the crash and concurrency tests use to hold a transaction or a batch open at the worst
/// moment, from the `ESCALATED_TEST_HOLD_*` variables. Never set in production: every one is nil
/// unless its variable is set, and nothing else reads them.
public struct TestHooks: Sendable, Equatable {
    /// ESCALATED_TEST_HOLD_AFTER_CLAIM: the router keeps each batch's transaction open this long after claiming.
    public var routerHoldAfterClaim: Duration?
    /// ESCALATED_TEST_HOLD_ESCALATION: the escalator keeps each batch's transaction open this long after claiming.
    public var escalatorHoldAfterClaim: Duration?
    /// ESCALATED_TEST_HOLD_DELIVERY: the deliverer waits this long after each send, before recording its outcome.
    public var delivererHoldAfterSend: Duration?

    public init() {}

    public init(environment: [String: String]) throws(SettingsError) {
        func hold(_ name: String) throws(SettingsError) -> Duration? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            return try DaemonConfiguration.parseDuration(text, name: name)
        }
        routerHoldAfterClaim = try hold("ESCALATED_TEST_HOLD_AFTER_CLAIM")
        escalatorHoldAfterClaim = try hold("ESCALATED_TEST_HOLD_ESCALATION")
        delivererHoldAfterSend = try hold("ESCALATED_TEST_HOLD_DELIVERY")
    }
}
