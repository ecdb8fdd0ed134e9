import ArgumentParser
import EscalationCore
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

    /// Builds the configuration: flags, then environment, then defaults (``DaemonConfiguration``
    /// reads the environment).
    func configuration(database: DatabaseSettings) throws -> DaemonConfiguration {
        let flags = DaemonFlags(http: http, logLevel: logLevel, pollInterval: pollInterval, batchSize: batchSize, routerWorkers: routerWorkers)
        do {
            return try DaemonConfiguration(database: database, flags: flags, environment: CLI.environment)
        } catch {
            throw CLIError(error.message)
        }
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
        abstract: "Run the daemon: HTTP API, LISTEN wake-ups, router, escalator, deliverer and digests, until SIGTERM or SIGINT."
    )

    @OptionGroup var database: DatabaseOption

    @Flag(help: "Apply pending migrations before starting (otherwise refuse to start on an old schema).")
    var migrate = false

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        var config = try options.configuration(database: try CLI.databaseSettings(database.url, allowDemo: false))
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

    @OptionGroup var database: DatabaseOption

    func run() async throws {
        let settings = try CLI.databaseSettings(database.url)
        let logger = CLI.bootstrapLogging(level: try CLI.logLevel(nil, default: .warning))
        let migrator = Migrator(migrations: try Migrator.bundled())
        let applied = try await Daemon.withClient(settings, applicationName: "escalated-migrate", logger: logger) { client in
            try await migrator.migrate(client: client, logger: logger)
        }
        print(applied.isEmpty ? "the schema is current" : "applied migration\(applied.count == 1 ? "" : "s") \(applied.map(String.init).joined(separator: ", "))")
    }
}
