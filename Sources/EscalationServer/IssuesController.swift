import EscalationCore
import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO

/// `/v1/issues`: intake and reading.
struct IssuesController: Sendable {
    let issues: IssueStore
    let lifecycle: LifecycleStore
    /// Reports without an Idempotency-Key are committed in groups.
    let intake: IntakeGroups

    /// The largest request body accepted, in bytes.
    static let maximumBodySize = 64 * 1024
    /// The longest `Idempotency-Key` accepted.
    static let maximumIdempotencyKeyLength = 255

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/issues") { request, context in try await self.create(request, context: context) }
        router.get("/v1/issues") { request, context in try await self.list(request, context: context) }
        router.get("/v1/issues/:id") { request, context in try await self.show(request, context: context) }
        for action in ["acknowledge", "resolve", "reopen", "extend", "close"] {
            router.post("/v1/issues/:id/\(action)") { request, context in try await self.act(action, request, context: context) }
        }
    }

    // MARK: POST /v1/issues/{id}/{action}

    func act(_ name: String, _ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try Self.issueID(context)
        try Self.requireJSON(request)
        let body = try await Self.collectBody(request)
        let object = body.readableBytes == 0 ? [:] : try Self.jsonObject(body)
        let allowed: Set<String> = switch name {
        case "resolve": ["actor", "resolution"]
        case "reopen": ["actor", "reason"]
        case "extend": ["actor", "deadline", "by", "reason"]
        default: ["actor"]
        }
        for key in object.keys.sorted() where !allowed.contains(key) {
            throw APIError.badRequest(key, "unknown field (expected \(allowed.sorted().joined(separator: ", ")))")
        }
        func text(_ field: String) throws -> String {
            do {
                return try ActionText.reason(try Self.string(object, field, required: true) ?? "", field: field)
            } catch let error as FieldError {
                throw APIError.invalid(error.field, error.message)
            }
        }
        var actor = "api"
        if object["actor"] != nil {
            do {
                actor = try ActionText.actor(try Self.string(object, "actor", required: true) ?? "")
            } catch let error as FieldError {
                throw APIError.invalid(error.field, error.message)
            }
        }
        let action: LifecycleStore.Action
        switch name {
        case "acknowledge": action = .acknowledge
        case "resolve": action = .resolve(resolution: try text("resolution"))
        case "reopen": action = .reopen(reason: try text("reason"))
        case "close": action = .close
        default:
            let which = try Self.string(object, "deadline", required: true) ?? ""
            guard let clock = DeadlineClock(rawValue: which) else { throw APIError.invalid("deadline", "must be acknowledge or resolve") }
            let by = try Self.string(object, "by", required: true) ?? ""
            guard let seconds = DurationText.seconds(by) else {
                throw APIError.invalid("by", "'\(by)' is not a duration such as 4h, 90m, 1h30m, 2d or 30s")
            }
            action = .extend(deadline: clock, bySeconds: seconds, reason: try text("reason"))
        }
        do {
            try await lifecycle.perform(action, issue: id, actor: actor, logger: context.logger)
        } catch let error as LifecycleStore.ActionError {
            switch error {
            case .notFound: throw APIError.notFound("issue \(id) does not exist")
            case .conflict(let state, let allowed):
                throw APIError(.conflict, code: "illegal_transition",
                               message: "state: issue \(id) is \(state.rawValue); \(name) applies to \(allowed.map(\.rawValue).joined(separator: " or ")) issues",
                               field: "state")
            case .noDeadline(let clock):
                throw APIError(.conflict, code: "no_deadline", message: "deadline: issue \(id) has no \(clock.rawValue) deadline", field: "deadline")
            }
        } catch {
            throw Self.storeFailure(error, context: context)
        }
        guard let issue = try await storeCall(context, { try await issues.get(id: id, logger: context.logger) }) else {
            throw APIError.notFound("issue \(id) does not exist")
        }
        return try APIJSON.response(issue)
    }

    static func issueID(_ context: BasicRequestContext) throws -> Int64 {
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text), id > 0 else {
            throw APIError.badRequest("id", "must be a positive whole number")
        }
        return id
    }

    // MARK: POST /v1/issues

    static let intakeFields: Set<String> = ["unit", "sector", "severity", "title", "description", "reporter"]

    func create(_ request: Request, context: BasicRequestContext) async throws -> Response {
        try Self.requireJSON(request)
        let key = try Self.idempotencyKey(request.headers[HTTPField.Name("Idempotency-Key")!])
        let body = try await Self.collectBody(request)
        let object = try Self.jsonObject(body)
        for name in object.keys.sorted() where !Self.intakeFields.contains(name) {
            throw APIError.badRequest(name, "unknown field (expected \(Self.intakeFields.sorted().joined(separator: ", ")))")
        }
        let newIssue: NewIssue
        do {
            newIssue = try NewIssue.validated(
                unit: try Self.string(object, "unit", required: true) ?? "",
                sector: try Self.string(object, "sector", required: true) ?? "",
                severity: try Self.string(object, "severity"),
                title: try Self.string(object, "title", required: true) ?? "",
                description: try Self.string(object, "description"),
                reporter: try Self.string(object, "reporter")
            )
        } catch let error as FieldError {
            throw APIError.invalid(error.field, error.message)
        }
        let created: IssueStore.Created
        do {
            if let key {
                created = try await issues.create(newIssue, origin: .api, idempotencyKey: key, logger: context.logger)
            } else {
                // Grouped intake answers with the stored issue itself: no second read.
                let stored = try await intake.submit(newIssue).get()
                context.logger.debug("issue stored", metadata: ["issue.id": "\(stored.id)"])
                return try APIJSON.response(stored, status: .created, headers: [.location: "/v1/issues/\(stored.id)"])
            }
        } catch let error as IssueStore.CreateError {
            switch error {
            case .unknown(let field, let code):
                throw APIError.invalid(field, "'\(code)' is not a \(field) in the directory")
            case .idempotencyKeyReused:
                throw APIError(.unprocessableContent, code: "idempotency_key_reused",
                               message: "Idempotency-Key: already used for a different report", field: "Idempotency-Key")
            }
        } catch {
            throw Self.storeFailure(error, context: context)
        }
        guard let issue = try await storeCall(context, { try await issues.get(id: created.id, logger: context.logger) }) else {
            throw APIError.notFound("issue \(created.id) does not exist")
        }
        context.logger.debug("issue stored", metadata: ["issue.id": "\(created.id)", "issue.replayed": "\(created.replayed)"])
        var headers: HTTPFields = [.location: "/v1/issues/\(created.id)"]
        if created.replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return try APIJSON.response(issue, status: .created, headers: headers)
    }

    /// A body may only be JSON (or come without a Content-Type).
    static func requireJSON(_ request: Request) throws {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "Content-Type: send application/json", field: "Content-Type")
        }
    }

    /// The body, refused past the size limit.
    static func collectBody(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: maximumBodySize)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "body: larger than \(maximumBodySize) bytes", field: "body")
        }
    }

    static func idempotencyKey(_ value: String?) throws -> String? {
        guard let value else { return nil }
        guard !value.isEmpty, value.count <= maximumIdempotencyKeyLength,
              value.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7E }) else {
            throw APIError.badRequest("Idempotency-Key", "must be 1 to \(maximumIdempotencyKeyLength) visible ASCII characters")
        }
        return value
    }

    static func jsonObject(_ body: ByteBuffer) throws -> [String: Any] {
        let bytes = Data(body.readableBytesView)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw APIError.badRequest("body", "not valid UTF-8")
        }
        guard !bytes.isEmpty else { throw APIError.badRequest("body", "empty; send a JSON object") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])
        } catch {
            throw APIError.badRequest("body", "not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw APIError.badRequest("body", "must be a JSON object")
        }
        return object
    }

    static func string(_ object: [String: Any], _ name: String, required: Bool = false) throws -> String? {
        guard let value = object[name], !(value is NSNull) else {
            if required { throw APIError.badRequest(name, "is required") }
            return nil
        }
        guard let string = value as? String, !(value is NSNumber) else {
            throw APIError.badRequest(name, "must be a string")
        }
        return string
    }

    // MARK: GET /v1/issues/{id}

    func show(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try Self.issueID(context)
        guard let issue = try await storeCall(context, { try await issues.get(id: id, logger: context.logger) }) else {
            throw APIError.notFound("issue \(id) does not exist")
        }
        return try APIJSON.response(issue)
    }

    // MARK: GET /v1/issues

    static let listParameters: Set<String> = ["unit", "sector", "agency", "state", "overdue", "limit", "cursor"]

    struct Page: Encodable {
        var items: [IssueRecord]
        var nextCursor: String?
        enum CodingKeys: String, CodingKey {
            case items
            case nextCursor = "next_cursor"
        }
    }

    func list(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let filter = try Self.filter(request.uri.queryParameters)
        let page = try await storeCall(context, { try await issues.list(filter, logger: context.logger) })
        let next = page.nextAfter.map(Self.cursor) ?? page.nextBefore.map(Self.cursor)
        return try APIJSON.response(Page(items: page.items, nextCursor: next))
    }

    static func filter(_ query: Parameters) throws -> IssueFilter {
        var values: [String: String] = [:]
        for (key, value) in query {
            let name = String(key)
            guard listParameters.contains(name) else {
                throw APIError.badRequest(name, "unknown query parameter (expected \(listParameters.sorted().joined(separator: ", ")))")
            }
            guard values[name] == nil else { throw APIError.badRequest(name, "given twice") }
            values[name] = String(value)
        }
        var filter = IssueFilter()
        for field in ["unit", "sector", "agency"] {
            guard let value = values[field] else { continue }
            guard Code.isValid(value) else { throw APIError.badRequest(field, "must be a \(field) code") }
            switch field {
            case "unit": filter.unit = value
            case "sector": filter.sector = value
            default: filter.agency = value
            }
        }
        if let state = values["state"] {
            guard let parsed = IssueState(rawValue: state) else {
                throw APIError.badRequest("state", "must be one of \(IssueState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.state = parsed
        }
        if let limit = values["limit"] {
            guard let parsed = Int(limit), (1...IssueFilter.maximumLimit).contains(parsed) else {
                throw APIError.badRequest("limit", "must be a whole number from 1 to \(IssueFilter.maximumLimit)")
            }
            filter.limit = parsed
        }
        if let overdue = values["overdue"] {
            guard overdue == "true" || overdue == "false" else { throw APIError.badRequest("overdue", "must be true or false") }
            filter.overdue = overdue == "true"
        }
        if let cursor = values["cursor"] {
            if filter.overdue {
                guard let after = Self.after(cursor: cursor) else { throw APIError.badRequest("cursor", "not a cursor returned by this API for this list") }
                filter.after = after
            } else {
                guard let before = Self.before(cursor: cursor) else { throw APIError.badRequest("cursor", "not a cursor returned by this API for this list") }
                filter.before = before
            }
        }
        return filter
    }

    /// Cursors are opaque to clients: base64url of `i:<id>`.
    static func cursor(_ before: Int64) -> String {
        Data("i:\(before)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func before(cursor: String) -> Int64? {
        guard let text = decodeCursor(cursor), text.hasPrefix("i:"), let id = Int64(text.dropFirst(2)), id > 0 else { return nil }
        return id
    }

    /// Overdue lists page by (due time, id): base64url of `o:<microseconds>:<id>`.
    static func cursor(_ after: OverdueCursor) -> String {
        Data("o:\(after.dueMicros):\(after.id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func after(cursor: String) -> OverdueCursor? {
        guard let text = decodeCursor(cursor), text.hasPrefix("o:") else { return nil }
        let parts = text.dropFirst(2).split(separator: ":")
        guard parts.count == 2, let micros = Int64(parts[0]), let id = Int64(parts[1]), id > 0 else { return nil }
        return OverdueCursor(dueMicros: micros, id: id)
    }

    static func decodeCursor(_ cursor: String) -> String? {
        guard cursor.count <= 60 else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    // MARK: Store failures

    /// Runs a store call, turning database trouble into 503 without echoing it.
    func storeCall<T>(_ context: BasicRequestContext, _ body: () async throws -> T) async throws -> T {
        try await Self.storeCall(context, body)
    }

    static func storeCall<T>(_ context: BasicRequestContext, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as APIError {
            throw error
        } catch {
            throw Self.storeFailure(error, context: context)
        }
    }

    static func storeFailure(_ error: any Error, context: BasicRequestContext) -> APIError {
        context.logger.error("store call failed", metadata: NotificationListener.errorMetadata(error))
        return .unavailable
    }
}
