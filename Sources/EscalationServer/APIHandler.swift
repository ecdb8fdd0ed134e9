import EscalationCore
import EscalationStore
import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO
import Prometheus

/// The HTTP API: the generated `APIProtocol` (from api/openapi.yaml), one method per operation.
///
/// Routing, parameter and body decoding and answer encoding are generated, so the routes and the
/// document cannot drift apart. What the document does not say is here and in the middleware:
/// who is calling (``RequestScope``), scopes and rights, field validation (422 naming the field),
/// limits, and errors as ``APIError``, which ``JSONErrorMiddleware`` answers as JSON.
struct APIHandler: APIProtocol {
    let issues: IssueStore
    let lifecycle: LifecycleStore
    /// Reports without an Idempotency-Key are committed in groups.
    let intake: IntakeGroups
    let reports: ReportStore
    let tokens: TokenStore
    let directory: DirectoryStore
    let deliveries: DeliveryStore
    let authenticator: TokenAuthenticator
    let client: Database
    let migrator: Migrator
    let listener: ListenerHealth
    let registry: PrometheusCollectorRegistry

    /// The largest request body accepted, in bytes (the directory has its own).
    static let maximumBodySize = 64 * 1024
    /// The largest directory file accepted, in bytes.
    static let maximumDirectorySize = 4 * 1024 * 1024
    /// The longest `Idempotency-Key` accepted.
    static let maximumIdempotencyKeyLength = 255
    /// The longest a token may live.
    static let maximumLifetimeDays = 3650

    // MARK: Operations without a token

    func health(_ input: Operations.Health.Input) async throws -> Operations.Health.Output {
        .ok(.init(body: .json(.init(status: .ok))))
    }

    /// Ready when the database answers, the LISTEN connection is up and the schema is current.
    func readiness(_ input: Operations.Readiness.Input) async throws -> Operations.Readiness.Output {
        let logger = RequestScope.logger
        var state = Components.Schemas.Readiness(
            ready: false, database: "unreachable", host: client.currentEndpoint?.description,
            listener: listener.isConnected ? "connected" : "disconnected", migrations: "unknown")
        do {
            let status = try await Database.within(.seconds(2)) { [client, migrator] in
                try await migrator.status(client: client, logger: logger)
            }
            state.database = "ok"
            state.migrations = status.problem ?? "current"
        } catch {
            logger.warning("readiness check failed", metadata: NotificationListener.errorMetadata(error))
        }
        state.ready = state.database == "ok" && state.migrations == "current" && state.listener == "connected"
        return state.ready ? .ok(.init(body: .json(state))) : .serviceUnavailable(.init(body: .json(state)))
    }

    func metrics(_ input: Operations.Metrics.Input) async throws -> Operations.Metrics.Output {
        .ok(.init(body: .plainText(HTTPBody(registry.emitToBuffer()))))
    }

    func openapi(_ input: Operations.Openapi.Input) async throws -> Operations.Openapi.Output {
        .ok(.init(body: .yaml(HTTPBody(OpenAPIDocument.bytes))))
    }

    // MARK: Store failures

    /// Runs a store call, turning database trouble into 503 without echoing it.
    static func storeCall<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as APIError {
            throw error
        } catch {
            throw storeFailure(error)
        }
    }

    static func storeFailure(_ error: any Error, logger: Logger = RequestScope.logger) -> APIError {
        logger.error("store call failed", metadata: NotificationListener.errorMetadata(error))
        return .unavailable
    }
}

/// Who is calling and the request's logger, for handlers of the generated API (which receive only
/// the operation's input). ``RequestScopeMiddleware`` sets it around every request.
struct RequestScope: Sendable {
    var identity: TokenStore.Identity?
    var logger: Logger

    @TaskLocal static var current: RequestScope?

    /// The request's logger (with its request id and actor).
    static var logger: Logger { current?.logger ?? Logger(label: "escalated.api") }

    /// The caller (handlers under `/v1` always have one; anything else is a wiring mistake, answered 401).
    static func actor() throws -> Actor {
        guard let identity = current?.identity else { throw AuthMiddleware.missing }
        return identity.actor
    }

    /// The caller, who must hold `operation`'s right whatever the issue.
    static func actor(allowedTo operation: Actor.Operation) throws -> Actor {
        let actor = try actor()
        guard actor.may(operation) else { throw APIError.forbidden(actor.kind, operation) }
        return actor
    }
}

/// The OpenAPI document (api/openapi.yaml), embedded at build time.
enum OpenAPIDocument {
    static let bytes: [UInt8] = EmbeddedAPI.files.first { $0.name == "openapi.yaml" }
        .flatMap { Data(base64Encoded: $0.base64) }.map { Array($0) } ?? []
}
