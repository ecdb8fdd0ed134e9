import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime
import EscalationWeb

/// Reads a request's body once, refusing it past the size limit (413), and sets the
/// ``RequestScope`` (the caller, the logger) the generated API's handlers read.
struct RequestScopeMiddleware: RouterMiddleware {
    typealias Context = APIContext

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        var request = request
        if request.method == .post || request.method == .put || request.method == .patch {
            // The directory file (API and web upload) may be larger than other bodies.
            let limit = ["/v1/directory", "/admin/directory"].contains(request.uri.path) ? APIHandler.maximumDirectorySize : APIHandler.maximumBodySize
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: limit)
            } catch is NIOTooManyBytesError {
                throw APIError(.contentTooLarge, code: "body_too_large", message: "body: larger than \(limit) bytes", field: "body")
            }
            // With its length known, the generated server can tell an empty body from none.
            var head = request.head
            head.headerFields[.contentLength] = String(buffer.readableBytes)
            head.headerFields[.transferEncoding] = nil
            request = Request(head: head, body: .init(buffer: buffer))
        }
        let scope = RequestScope(identity: context.identity, logger: context.logger)
        return try await RequestScope.$current.withValue(scope) {
            try await next(request, context)
        }
    }
}

/// What the generated server leaves to the application, around each operation:
/// - query and path parameters are checked against the document first (``APIContract``), so a
///   refusal names the parameter, and a query parameter the operation does not take is refused
///   (the generated code ignores it, so `?stat=open` would list everything without saying why);
/// - a request without a body has none (HTTP servers hand over an empty one);
/// - header values are sent as they are: the generator percent-encodes them
///   (apple/swift-openapi-generator#857), which would send an ETag of `"3"` as `%223%22`.
struct OpenAPIRequestMiddleware: ServerMiddleware {
    let contract: APIContract

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        try contract.check(operationID: operationID, path: request.path ?? "", pathParameters: metadata.pathParameters)
        // RequestScopeMiddleware read the body and set its length.
        let body = body?.length == .known(0) ? nil : body
        var (response, responseBody) = try await next(request, body, metadata)
        for index in response.headerFields.indices {
            let field = response.headerFields[index]
            if field.value.contains("%"), let plain = field.value.removingPercentEncoding {
                response.headerFields[index] = HTTPField(name: field.name, value: plain)
            }
        }
        return (response, responseBody)
    }
}

/// Answers every error with the API's JSON error body: what the router refuses (no such path),
/// what the generated server refuses (a malformed parameter or body, named by field), and what a
/// handler throws (``APIError``). Anything else is logged and answered 500 without details.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let contract: APIContract
    /// The web app answers its own paths' refusals with pages.
    var web: WebApp?

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status.code < 500 && web != nil && WebApp.owns(path: request.uri.path) {
            return web!.refusal(error.status)
        } catch let error as APIError where error.status.code < 500 && web != nil && WebApp.owns(path: request.uri.path) {
            // A refusal made before the web app saw the request (a body over the size limit).
            return web!.refusal(error.status)
        } catch let error as HTTPError where error.status == .notFound {
            throw APIError(.notFound, code: "not_found",
                           message: "path: \(request.method.rawValue) \(request.uri.path) is not part of this API (see /openapi.yaml)", field: "path")
        } catch let error as ServerError {
            let translated = translate(error)
            if translated.status.code >= 500 {
                context.logger.error("request failed", metadata: ["operation": "\(error.operationID)", "error": "\(error.causeDescription)"])
            }
            throw translated
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            context.logger.error("request failed", metadata: NotificationListener.errorMetadata(error))
            throw APIError(.internalServerError, code: "internal", message: "the request failed; see the daemon's log")
        }
    }

    /// The generated server's refusals, as the API's errors.
    func translate(_ error: ServerError) -> APIError {
        switch error.underlyingError {
        case let apiError as APIError:
            return apiError
        case let decoding as DecodingError:
            return Self.translate(decoding, values: contract.operations[error.operationID]?.bodyValues ?? [:])
        default:
            break
        }
        let cause = error.causeDescription
        let status = error.httpStatus
        if status == .unsupportedMediaType {
            let expected = cause.range(of: "expected: ").map { cause[$0.upperBound...].prefix { $0 != "," } } ?? "the operation's media type"
            return APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "Content-Type: send \(expected)", field: "Content-Type")
        }
        if status == .notAcceptable {
            return APIError(.notAcceptable, code: "not_acceptable", message: "Accept: \(cause)", field: "Accept")
        }
        guard status.kind == .clientError else { return APIError(.internalServerError, code: "internal", message: "the request failed; see the daemon's log") }
        if cause.hasPrefix("Missing required request body") { return .badRequest("body", "is required") }
        for marker in ["Missing required query parameter named: ", "Missing required path parameter named: "] where cause.hasPrefix(marker) {
            return .badRequest(String(cause.dropFirst(marker.count)), "is required")
        }
        if let name = cause.firstMatch(of: /header field named '([^']+)'/)?.1 {
            return .badRequest(String(name), "is required")
        }
        // What remains is a header the generated code could not read (Accept is the one it parses).
        return .badRequest(cause.localizedCaseInsensitiveContains("accept") ? "Accept" : "request", cause)
    }

    /// A decoding failure names the field by its coding path (`body` for the whole body).
    static func translate(_ error: DecodingError, values: [String: [String]] = [:]) -> APIError {
        func field(_ path: [any CodingKey]) -> String {
            let text = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
            return text.isEmpty ? "body" : text
        }
        func kind(_ type: Any.Type) -> String {
            switch type {
            case is String.Type, is Substring.Type: return "a string"
            case is Int.Type, is Int64.Type, is Int32.Type: return "a whole number"
            case is Double.Type, is Float.Type: return "a number"
            case is Bool.Type: return "true or false"
            case is [Any].Type: return "an array"
            default: return "a JSON object"
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .badRequest(field(context.codingPath + [key]), "is required")
        case .valueNotFound(let type, let context):
            return .badRequest(field(context.codingPath), "must be \(kind(type)), not null")
        case .typeMismatch(let type, let context):
            return .badRequest(field(context.codingPath), "must be \(kind(type))")
        case .dataCorrupted(let context):
            let name = field(context.codingPath)
            let detail = context.debugDescription
            if detail.hasPrefix("Additional properties are disabled") {
                return .badRequest(name, "unknown field (see this operation in /openapi.yaml)")
            }
            if detail.hasPrefix("Cannot initialize") {
                let allowed = context.codingPath.last.flatMap { values[$0.stringValue] }
                return .badRequest(name, allowed.map { "must be one of \($0.joined(separator: ", "))" } ?? "is not one of the values this operation takes (see /openapi.yaml)")
            }
            if context.codingPath.isEmpty {
                return .badRequest("body", "not valid JSON")
            }
            return .badRequest(name, "is not valid here: \(detail)")
        @unknown default:
            return .badRequest("body", "could not be read")
        }
    }
}
