import EscalationCore
import EscalationStore
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import NIOCore

/// API tokens for tests, made through the store as `escalated tokens create` makes them.
enum TestTokens {
    static func make(_ settings: DatabaseSettings, _ actor: String, expiresAt: Date? = nil) async throws -> String {
        let parsed = try Actor.parse(actor)
        return try await TestPostgres.withClient(settings) { client in
            try await TokenStore(client: client).create(actor: parsed, name: "test \(actor)", expiresAt: expiresAt, logger: testLogger).secret
        }
    }
}

/// A test client that sends `Authorization: Bearer <token>` with every request that has none.
struct AuthedClient: TestClientProtocol {
    let client: any TestClientProtocol
    let token: String

    init(_ client: any TestClientProtocol, token: String) {
        self.client = client
        self.token = token
    }

    /// Speaks for the operator (an admin token).
    init(_ client: any TestClientProtocol, settings: DatabaseSettings) async throws {
        self.init(client, token: try await TestTokens.make(settings, "admin"))
    }

    var port: Int? { client.port }

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        if headers[.authorization] == nil { headers[.authorization] = "Bearer \(token)" }
        return try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }

    /// The same client speaking for `actor` (a new token).
    func acting(as actor: String, settings: DatabaseSettings) async throws -> AuthedClient {
        AuthedClient(client, token: try await TestTokens.make(settings, actor))
    }
}

extension ApplicationProtocol {
    /// HummingbirdTesting's live test, with the body's error carried out as a value: the
    /// application then always stops by graceful shutdown. When the body throws inside
    /// `test(.live)`, the service group is cancelled as well, and a PostgresClient connection
    /// request pending at that moment (the escalator's first batch) never returns: the test would
    /// hang instead of failing.
    func testLive<Value: Sendable>(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let result: Result<Value, TestFailure> = try await test(.live) { client in
            do {
                return .success(try await body(client))
            } catch {
                return .failure(TestFailure(String(reflecting: error)))
            }
        }
        return try result.get()
    }
}
