import EscalationStore
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Prometheus

/// `/healthz`, `/readyz`, `/metrics` and `/openapi.yaml` (the API's contract), without a token.
struct HealthController: Sendable {
    let client: PostgresClient
    let migrator: Migrator
    let listener: ListenerHealth
    let registry: PrometheusCollectorRegistry

    struct Readiness: Encodable {
        var ready: Bool
        var database: String
        var listener: String
        var migrations: String
    }

    func addRoutes(to router: Router<APIContext>) {
        router.get("/healthz") { _, _ in
            try APIJSON.response(["status": "ok"])
        }
        router.get("/readyz") { _, context in
            try await self.readiness(context: context)
        }
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: self.registry.emitToBuffer()))
            )
        }
    }

    /// Ready when the database answers, the LISTEN connection is up and the schema is current.
    func readiness(context: APIContext) async throws -> Response {
        var state = Readiness(ready: false, database: "unreachable", listener: listener.isConnected ? "connected" : "disconnected", migrations: "unknown")
        do {
            let status = try await withTimeout(.seconds(2)) {
                try await migrator.status(client: client, logger: context.logger)
            }
            state.database = "ok"
            state.migrations = status.problem ?? "current"
        } catch {
            context.logger.warning("readiness check failed", metadata: NotificationListener.errorMetadata(error))
        }
        state.ready = state.database == "ok" && state.migrations == "current" && state.listener == "connected"
        return try APIJSON.response(state, status: state.ready ? .ok : .serviceUnavailable)
    }
}

struct TimeoutError: Error {}

/// Runs `operation`, or throws ``TimeoutError`` after `limit` (the operation is cancelled).
func withTimeout<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimeoutError()
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw TimeoutError() }
        return result
    }
}

/// The OpenAPI document (api/openapi.yaml), embedded at build time.
enum OpenAPIDocument {
    static let bytes: [UInt8] = EmbeddedAPI.files.first { $0.name == "openapi.yaml" }
        .flatMap { Data(base64Encoded: $0.base64) }.map { Array($0) } ?? []
}
