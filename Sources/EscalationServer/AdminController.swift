import EscalationCore
import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What the operator manages over the API as well as the CLI: tokens and the directory.
struct AdminController: Sendable {
    let tokens: TokenStore
    let directory: DirectoryStore
    let authenticator: TokenAuthenticator

    /// The largest directory file accepted, in bytes.
    static let maximumDirectorySize = 4 * 1024 * 1024
    /// The longest a token may live.
    static let maximumLifetimeDays = 3650

    func addRoutes(to router: Router<APIContext>) {
        router.get("/v1/tokens") { _, context in try await self.list(context: context) }
        router.post("/v1/tokens") { request, context in try await self.create(request, context: context) }
        router.delete("/v1/tokens/:id") { _, context in try await self.revoke(context: context) }
        router.get("/v1/directory") { _, context in try await self.export(context: context) }
        router.put("/v1/directory") { request, context in try await self.replace(request, context: context) }
    }

    struct TokenList: Encodable {
        var items: [TokenStore.Token]
    }

    struct Created: Encodable {
        var token: TokenStore.Token
        /// The token itself: shown once, never again.
        var secret: String
    }

    func list(context: APIContext) async throws -> Response {
        _ = try context.actor(allowedTo: .operate)
        let items = try await IssuesController.storeCall(context) { try await tokens.list(logger: context.logger) }
        return try APIJSON.response(TokenList(items: items))
    }

    func create(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.actor(allowedTo: .operate)
        try IssuesController.requireJSON(request)
        let object = try IssuesController.jsonObject(try await IssuesController.collectBody(request))
        let fields: Set<String> = ["actor", "name", "expires_in_days"]
        for key in object.keys.sorted() where !fields.contains(key) {
            throw APIError.badRequest(key, "unknown field (expected \(fields.sorted().joined(separator: ", ")))")
        }
        let actor: Actor
        let name: String
        do {
            actor = try Actor.parse(try IssuesController.string(object, "actor", required: true) ?? "")
            name = try TokenText.name(try IssuesController.string(object, "name", required: true) ?? "")
        } catch let error as FieldError {
            throw APIError.invalid(error.field, error.message)
        }
        var expires: Date?
        if let value = object["expires_in_days"], !(value is NSNull) {
            guard let number = value as? NSNumber, !["c", "B"].contains(String(cString: number.objCType)),
                  let days = Int(exactly: number.doubleValue) else {
                throw APIError.badRequest("expires_in_days", "must be a whole number")
            }
            guard (1...Self.maximumLifetimeDays).contains(days) else {
                throw APIError.invalid("expires_in_days", "must be from 1 to \(Self.maximumLifetimeDays)")
            }
            expires = Date().addingTimeInterval(Double(days) * 86_400)
        }
        let when = expires
        do {
            let made = try await tokens.create(actor: actor, name: name, expiresAt: when, logger: context.logger)
            return try APIJSON.response(Created(token: made.token, secret: made.secret), status: .created,
                                        headers: [.location: "/v1/tokens/\(made.token.id)", .cacheControl: "no-store"])
        } catch TokenStore.TokenError.unknownActor(let text) {
            throw APIError.invalid("actor", "'\(text)' names no \(actor.kind.rawValue) in the directory")
        } catch {
            throw IssuesController.storeFailure(error, context: context)
        }
    }

    func revoke(context: APIContext) async throws -> Response {
        _ = try context.actor(allowedTo: .operate)
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text), id > 0 else { throw APIError.badRequest("id", "must be a positive whole number") }
        guard try await IssuesController.storeCall(context, { try await tokens.revoke(id: id, logger: context.logger) }) else {
            throw APIError.notFound("token \(id) does not exist or was revoked before")
        }
        authenticator.forgetAll()
        return Response(status: .noContent)
    }

    func export(context: APIContext) async throws -> Response {
        _ = try context.actor(allowedTo: .operate)
        let loaded = try await IssuesController.storeCall(context) { try await directory.load(logger: context.logger) }
        let text = DirectoryFile.render(loaded.directory, header: "escalated directory, revision \(loaded.revision)")
        return Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8", .eTag: "\"\(loaded.revision)\""],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    struct Imported: Encodable {
        var changed: Bool
        var revision: Int64
    }

    func replace(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.actor(allowedTo: .operate)
        if let type = request.headers[.contentType]?.lowercased(), !(type.hasPrefix("application/yaml") || type.hasPrefix("text/yaml")) {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "Content-Type: send application/yaml", field: "Content-Type")
        }
        let body = try await IssuesController.collectBody(request, limit: Self.maximumDirectorySize)
        guard let text = String(validating: Data(body.readableBytesView), as: UTF8.self) else {
            throw APIError.badRequest("body", "not valid UTF-8")
        }
        let parsed: Directory
        do {
            parsed = try DirectoryFile.parse(text, file: "body")
        } catch {
            throw APIError.invalid("body", error.problems.prefix(20).joined(separator: "; "))
        }
        // A file that would leave nothing to route to is a mistake, not an intent.
        for (what, empty) in [("units", parsed.units.isEmpty), ("agencies", parsed.agencies.isEmpty), ("sectors", parsed.sectors.isEmpty)] where empty {
            throw APIError.invalid("body", "the directory has no \(what); importing it would remove every one in use")
        }
        let result = try await IssuesController.storeCall(context) { try await directory.importDirectory(parsed, logger: context.logger) }
        return try APIJSON.response(Imported(changed: result.changed, revision: result.revision))
    }
}
