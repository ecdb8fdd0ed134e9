import ArgumentParser
import EscalationCore
import EscalationDelivery
import EscalationServer
import EscalationStore
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Options shared by every command that runs the daemon.
struct DaemonOptions: ParsableArguments {
    @Option(name: .customLong("http"), help: "HOST:PORT for the HTTP API (env ESCALATED_HTTP; default 127.0.0.1:8080).")
    var http: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env ESCALATED_LOG_LEVEL; default info).")
    var logLevel: String?

    @Option(help: "How often the router looks for work without a notification (env ESCALATED_POLL_INTERVAL; default 2s).")
    var pollInterval: String?

    @Option(help: "Issues the router claims per transaction (env ESCALATED_BATCH_SIZE; default 1000).")
    var batchSize: Int?

    @Option(help: "Batches one daemon routes at once while a backlog drains (env ESCALATED_ROUTER_WORKERS; default 2).")
    var routerWorkers: Int?

    /// Builds the configuration: flags, then environment, then defaults.
    func configuration(database: DatabaseSettings) throws -> DaemonConfiguration {
        let env = CLI.environment
        var config = DaemonConfiguration(database: database)
        do {
            if let http = http ?? env["ESCALATED_HTTP"], !http.isEmpty {
                (config.httpHost, config.httpPort) = try DaemonConfiguration.parseHostPort(http)
            }
            config.logLevel = try CLI.logLevel(logLevel, default: .info)
            if let poll = pollInterval ?? env["ESCALATED_POLL_INTERVAL"], !poll.isEmpty {
                config.router.pollInterval = try DaemonConfiguration.parseDuration(poll, name: "the poll interval")
                guard config.router.pollInterval <= .seconds(60) else {
                    throw SettingsError("the poll interval must be at most 1m (got '\(poll)')")
                }
                config.escalator.pollInterval = config.router.pollInterval
            }
            if let hold = env["ESCALATED_TEST_HOLD_AFTER_CLAIM"], !hold.isEmpty {
                config.router.holdAfterClaim = try DaemonConfiguration.parseDuration(hold, name: "ESCALATED_TEST_HOLD_AFTER_CLAIM")
            }
            config.deliverer.mail = try Self.mail(env)
            if let secret = env["ESCALATED_WEBHOOK_SECRET"], !secret.isEmpty {
                guard secret.utf8.count >= 16 else { throw SettingsError("ESCALATED_WEBHOOK_SECRET must be at least 16 bytes long") }
                config.deliverer.webhook = WebhookSettings(secret: secret)
            }
            if let limit = env["ESCALATED_RATE_LIMIT"], !limit.isEmpty {
                (config.api.rateLimit, config.api.rateBurst) = try APIConfiguration.parseRateLimit(limit)
            }
            if let cache = env["ESCALATED_TOKEN_CACHE"], !cache.isEmpty {
                config.api.tokenCacheTime = try DaemonConfiguration.parseDuration(cache, name: "ESCALATED_TOKEN_CACHE")
            }
            config.deliverer.publicURL = env["ESCALATED_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 }
                ?? "http://\(config.httpHost.contains(":") ? "[\(config.httpHost)]" : config.httpHost):\(config.httpPort)"
            if let lease = env["ESCALATED_DELIVERY_LEASE"], !lease.isEmpty {
                let duration = try DaemonConfiguration.parseDuration(lease, name: "ESCALATED_DELIVERY_LEASE")
                config.deliverer.leaseSeconds = max(1, Int(duration.components.seconds))
            }
            if let hold = env["ESCALATED_TEST_HOLD_DELIVERY"], !hold.isEmpty {
                config.deliverer.holdAfterSend = try DaemonConfiguration.parseDuration(hold, name: "ESCALATED_TEST_HOLD_DELIVERY")
            }
            if let hold = env["ESCALATED_TEST_HOLD_ESCALATION"], !hold.isEmpty {
                config.escalator.holdAfterClaim = try DaemonConfiguration.parseDuration(hold, name: "ESCALATED_TEST_HOLD_ESCALATION")
            }
        } catch let error as SettingsError {
            throw CLIError(error.message)
        }
        if let batch = try Self.wholeNumber(batchSize, variable: "ESCALATED_BATCH_SIZE", label: "the batch size", range: 1...10_000) {
            config.router.batchSize = batch
            config.escalator.batchSize = batch
        }
        if let workers = try Self.wholeNumber(routerWorkers, variable: "ESCALATED_ROUTER_WORKERS", label: "the router workers", range: 1...16) {
            config.router.workers = workers
            config.escalator.workers = workers
        }
        return config
    }

    /// The email hook from ESCALATED_SMTP_URL (or ESCALATED_MAIL_DIR) and ESCALATED_MAIL_FROM; nil when neither is set.
    static func mail(_ env: [String: String], defaultFolder: String? = nil) throws -> MailConfiguration? {
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

    /// A whole-number setting: the flag, else the environment variable (empty means unset), checked against `range`.
    static func wholeNumber(_ flag: Int?, variable: String, label: String, range: ClosedRange<Int>) throws -> Int? {
        var value = flag
        if value == nil, let text = CLI.environment[variable], !text.isEmpty {
            guard let parsed = Int(text) else { throw CLIError("\(variable) must be a whole number (got '\(text)')") }
            value = parsed
        }
        if let value, !range.contains(value) {
            throw CLIError("\(label) must be from \(range.lowerBound) to \(range.upperBound) (got \(value))")
        }
        return value
    }
}

enum MetricsSetup {
    /// Bootstraps swift-metrics with a Prometheus registry served at /metrics.
    static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: HTTP API, LISTEN wake-ups and the router, until SIGTERM or SIGINT."
    )

    @Option(help: "postgres://user:password@host:port/database (env DATABASE_URL).")
    var databaseURL: String?

    @Flag(help: "Apply pending migrations before starting (otherwise refuse to start on an old schema).")
    var migrate = false

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        var config = try options.configuration(database: try CLI.databaseSettings(databaseURL, allowDemo: false))
        config.migrate = migrate
        let logger = CLI.bootstrapLogging(level: config.logLevel)
        let registry = MetricsSetup.bootstrap()
        logger.info("starting", metadata: ["database": "\(config.database)", "http": "\(config.httpHost):\(config.httpPort)"])
        try await Daemon.prepareDatabase(config, logger: logger)
        let app = try Daemon.buildApplication(config, logger: logger, registry: registry) { port in
            logger.info("serving", metadata: ["http.port": "\(port)"])
        }
        try await ShutdownPolicy.run(app, logger: logger)
    }
}

/// Runs the application until SIGTERM or SIGINT, then shuts down gracefully within a bound.
enum ShutdownPolicy {
    /// Long enough for a batch in hand to commit; after it the remaining services are cancelled.
    static let maximumGracefulShutdown: Duration = .seconds(20)

    static func run(_ app: some Service, logger: Logger) async throws {
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: app)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = maximumGracefulShutdown
        try await ServiceGroup(configuration: configuration).run()
    }
}

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the pending SQL migrations (sql/, shipped in the binary) and exit."
    )

    @Option(help: "postgres://user:password@host:port/database (env DATABASE_URL).")
    var databaseURL: String?

    func run() async throws {
        let settings = try CLI.databaseSettings(databaseURL)
        let logger = CLI.bootstrapLogging(level: try CLI.logLevel(nil, default: .warning))
        let migrator = Migrator(migrations: try Migrator.bundled())
        let applied = try await Daemon.withClient(settings, applicationName: "escalated-migrate", logger: logger) { client in
            try await migrator.migrate(client: client, logger: logger)
        }
        print(applied.isEmpty ? "the schema is current" : "applied migration\(applied.count == 1 ? "" : "s") \(applied.map(String.init).joined(separator: ", "))")
    }
}
