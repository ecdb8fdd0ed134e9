import EscalationDelivery
import EscalationWeb
public import EscalationStore
public import Hummingbird
public import Logging
import PostgresNIO
public import Prometheus
import OpenAPIHummingbird
import OpenAPIRuntime
import ServiceLifecycle

/// Builds the daemon: the pool, the listener, the router and the HTTP API, as one application.
public enum Daemon {
    /// Checks the schema (or migrates it, with `configuration.migrate`) before anything starts.
    ///
    /// Throws ``SettingsError`` naming the missing or changed migration.
    public static func prepareDatabase(_ configuration: DaemonConfiguration, logger: Logger) async throws {
        let migrator = Migrator(migrations: try Migrator.bundled())
        try await withClient(configuration.database, applicationName: "escalated-migrate", logger: logger) { client in
            try await client.checkSessionPooling()
            if configuration.migrate {
                try await migrator.migrate(client: client, logger: logger)
            } else if let problem = try await migrator.status(client: client, logger: logger).problem {
                throw SettingsError(problem)
            }
        }
    }

    /// The application: run it with `runService()` (signals) or inside a test's service group.
    ///
    /// Services start in dependency order (pool, listener, router, escalator, deliverer, then HTTP) and stop in reverse.
    /// `onServerRunning` receives the bound port (useful when the configured port is 0).
    public static func buildApplication(
        _ configuration: DaemonConfiguration,
        logger: Logger,
        registry: PrometheusCollectorRegistry = PrometheusMetricsFactory.defaultRegistry,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let client = Database(settings: configuration.database, applicationName: "escalated", logger: logger.with("service", "database"))
        let cache = RoutingTableCache()
        let routerService = RouterService(
            store: RoutingStore(client: client, cache: cache, instance: configuration.router.instanceName),
            configuration: configuration.router, hooks: configuration.testHooks,
            logger: logger.with("service", "router")
        )
        let escalator = EscalatorService(
            store: EscalatorStore(client: client, cache: cache, instance: configuration.router.instanceName),
            configuration: configuration.escalator, hooks: configuration.testHooks,
            logger: logger.with("service", "escalator")
        )
        let transport: (any MailTransport)? = switch configuration.deliverer.mail?.transport {
        case .smtp(let settings)?: SMTPTransport(settings: settings)
        case .folder(let folder)?: FileMailTransport(folder: folder)
        case nil: nil
        }
        let deliverer = DelivererService(
            store: DeliveryStore(client: client, instance: configuration.router.instanceName),
            client: client, cache: cache, templates: try MessageTemplates.bundled(), transport: transport,
            configuration: configuration.deliverer, accountSettings: configuration.web.accounts, hooks: configuration.testHooks,
            logger: logger.with("service", "deliverer")
        )
        let digests = DigestService(
            store: DigestStore(client: client, instance: configuration.router.instanceName),
            reports: PeriodReportStore(client: client, instance: configuration.router.instanceName), client: client, cache: cache,
            logger: logger.with("service", "digests"))
        var web = configuration.web
        web.publicURL = configuration.deliverer.publicURL
        let webApp = try WebApp(client: client, cache: cache, instance: configuration.router.instanceName, configuration: web,
                                logger: logger.with("service", "web"))
        let live = webApp.live
        let listener = NotificationListener(
            settings: configuration.listenDatabase,
            client: client,
            configuration: configuration.listener,
            logger: logger.with("service", "listener"),
            onNotification: { topic in
                switch topic {
                case .directory:
                    routerService.requestSweep()
                    escalator.wakeUp()
                    digests.wakeUp()
                case .deadlines: escalator.wakeUp()
                case .outbox: deliverer.wakeUp()
                case .issues, .ping: routerService.wakeUp()
                case .events: live.wakeUp()
                }
            },
            onConnected: {
                routerService.requestSweep()
                escalator.wakeUp()
                deliverer.wakeUp()
                digests.wakeUp()
            }
        )

        let router = Router(context: APIContext.self)
        router.middlewares.add(MetricsMiddleware())
        let contract = try APIContract(document: OpenAPIDocument.bytes)
        router.middlewares.add(JSONErrorMiddleware(contract: contract, web: webApp))
        let authenticator = TokenAuthenticator(store: TokenStore(client: client), cacheTime: configuration.api.tokenCacheTime)
        router.middlewares.add(AuthMiddleware(
            authenticator: authenticator, limiter: RateLimiter(rate: configuration.api.rateLimit, burst: configuration.api.rateBurst)))
        router.middlewares.add(RequestScopeMiddleware())
        let api = APIHandler(
            issues: IssueStore(client: client), lifecycle: LifecycleStore(client: client, cache: cache),
            intake: IntakeGroups(store: IssueStore(client: client), logger: logger.with("service", "intake")),
            reports: ReportStore(client: client), tokens: TokenStore(client: client), directory: DirectoryStore(client: client),
            deliveries: DeliveryStore(client: client, instance: configuration.router.instanceName), authenticator: authenticator,
            client: client, migrator: Migrator(migrations: try Migrator.bundled()), listener: listener.health, registry: registry
        )
        // The routes, the decoding of parameters and bodies and the encoding of answers are
        // generated from api/openapi.yaml at build time.
        try api.registerHandlers(
            on: router,
            configuration: OpenAPIRuntime.Configuration(dateTranscoder: APIDateTranscoder(), jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes]),
            middlewares: [OpenAPIRequestMiddleware(contract: contract)]
        )

        // The web app: its pages on the same router (its own error pages; the API's paths stay JSON).
        webApp.register(on: router)

        var app = Application(
            router: router,
            server: HTTPConnectionTracker(limits: configuration.httpLimits, logger: logger.with("service", "http")).server(),
            configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "escalated"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.httpPort) },
            logger: logger.with("service", "http")
        )
        let maintenance = MaintenanceService(store: MaintenanceStore(client: client), configuration: configuration.maintenance,
                                             logger: logger.with("service", "maintenance"))
        app.addServices(client, listener, routerService, escalator, deliverer, digests, live, webApp.pruner, maintenance)
        return app
    }

    /// Runs `body` with a pool that is running, then shuts the pool down.
    public static func withClient<T: Sendable>(
        _ settings: DatabaseSettings,
        applicationName: String,
        logger: Logger,
        _ body: @escaping @Sendable (Database) async throws -> T
    ) async throws -> T {
        // The pool may be asked for a connection a moment before `run()` starts; that is fine here,
        // so keep the pool's own start-up warning out of command output.
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .error)
        let client = Database(settings: settings, applicationName: applicationName, maximumConnections: 4, logger: poolLogger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}

extension Logger {
    func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy[metadataKey: key] = .string(value)
        return copy
    }
}
