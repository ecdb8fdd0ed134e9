import EscalationCore
import Foundation
public import Hummingbird

/// An error the API answers with: a status, a stable code, a message naming the field.
///
/// Every error response has the body `{"error": {"code": ..., "message": ..., "field": ...}}`.
/// Database errors are never echoed; they become `unavailable` (503).
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?
    /// Headers that go with the answer (WWW-Authenticate, Retry-After).
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
    }

    /// A malformed request: bad JSON, a wrong type, an unknown field or parameter.
    static func badRequest(_ field: String?, _ message: String) -> APIError {
        APIError(.badRequest, code: "bad_request", message: field.map { "\($0): \(message)" } ?? message, field: field)
    }

    /// A well-formed request whose values are not acceptable.
    static func invalid(_ field: String, _ message: String) -> APIError {
        APIError(.unprocessableContent, code: "invalid_field", message: "\(field): \(message)", field: field)
    }

    static func notFound(_ message: String) -> APIError {
        APIError(.notFound, code: "not_found", message: message)
    }

    /// An issue (or token) the caller cannot see, whether or not it exists.
    static func notFound(issue id: Int64) -> APIError {
        .notFound("issue \(id) does not exist or is not yours to see")
    }

    /// The caller's kind lacks the right (`what`: the words for the operation, its name by default).
    static func forbidden(_ kind: ActorKind, _ operation: Actor.Operation, what: String? = nil) -> APIError {
        let kinds = Actor.kinds(allowedTo: operation).map(\.rawValue).joined(separator: ", ")
        return APIError(.forbidden, code: "forbidden",
                        message: "Authorization: \(kind.rawValue) tokens may not \(what ?? operation.rawValue) (allowed: \(kinds))", field: "Authorization")
    }

    static let unavailable = APIError(.serviceUnavailable, code: "unavailable", message: "the database is unavailable; retry later")

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    private struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var field: String?
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = (try? Self.encoder.encode(Body(error: .init(code: code, message: message, field: field)))) ?? Data()
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        if status == .serviceUnavailable { headers[.retryAfter] = "1" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
