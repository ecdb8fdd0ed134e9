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

    func addRoutes(to router: Router<APIContext>) {
        router.post("/v1/issues") { request, context in try await self.create(request, context: context) }
        router.get("/v1/issues") { request, context in try await self.list(request, context: context, inbox: false) }
        router.get("/v1/inbox") { request, context in try await self.list(request, context: context, inbox: true) }
        router.get("/v1/issues/:id") { request, context in try await self.show(request, context: context) }
        for action in Self.actionFields.keys {
            router.post("/v1/issues/:id/\(action)") { request, context in try await self.act(action, request, context: context) }
        }
    }

    // MARK: POST /v1/issues/{id}/{action}

    /// The body fields of each action.
    static let actionFields: [String: Set<String>] = [
        "acknowledge": [], "close": [],
        "comment": ["kind", "text"],
        "reassign": ["agency", "reason"],
        "resolve": ["resolution"],
        "reopen": ["reason"],
        "extend": ["deadline", "by", "reason"],
    ]

    func act(_ name: String, _ request: Request, context: APIContext) async throws -> Response {
        let actor = try context.actor()
        let id = try Self.issueID(context)
        let expected = try Self.ifMatch(request.headers[.ifMatch])
        try Self.requireJSON(request)
        let body = try await Self.collectBody(request)
        let object = body.readableBytes == 0 ? [:] : try Self.jsonObject(body)
        let allowed = Self.actionFields[name] ?? []
        for key in object.keys.sorted() where !allowed.contains(key) {
            let expected = allowed.isEmpty ? "this action takes no fields" : "expected \(allowed.sorted().joined(separator: ", "))"
            throw APIError.badRequest(key, "unknown field (\(expected))")
        }
        func text(_ field: String) throws -> String {
            do {
                return try ActionText.reason(try Self.string(object, field, required: true) ?? "", field: field)
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
        case "comment":
            let kindText = try Self.string(object, "kind") ?? CommentKind.note.rawValue
            guard let kind = CommentKind(rawValue: kindText) else {
                throw APIError.invalid("kind", "must be one of \(CommentKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            action = .comment(kind: kind, text: try text("text"))
        case "reassign":
            let agency = try Self.string(object, "agency", required: true) ?? ""
            guard Code.isValid(agency) else { throw APIError.invalid("agency", "must be an agency code") }
            action = .reassign(agency: agency, reason: try text("reason"))
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
            try await lifecycle.perform(action, issue: id, actor: actor, expectedVersion: expected, logger: context.logger)
        } catch let error as LifecycleStore.ActionError {
            throw Self.apiError(error, issue: id, action: name)
        } catch {
            throw Self.storeFailure(error, context: context)
        }
        return try await shown(id, actor: actor, context: context)
    }

    static func apiError(_ error: LifecycleStore.ActionError, issue id: Int64, action name: String) -> APIError {
        switch error {
        case .notFound: return .notFound(issue: id)
        case .forbidden(let kind):
            let kinds = Actor.kinds(allowedTo: Actor.Operation(rawValue: name) ?? .operate).map(\.rawValue).joined(separator: ", ")
            return APIError(.forbidden, code: "forbidden",
                            message: "Authorization: \(kind.rawValue) tokens may not \(name) issues (allowed: \(kinds))", field: "Authorization")
        case .staleVersion(let current):
            return APIError(.preconditionFailed, code: "version_mismatch",
                            message: "If-Match: issue \(id) is at version \(current); read it again before acting", field: "If-Match",
                            headers: [.eTag: "\"\(current)\""])
        case .conflict(let state, let allowed):
            return APIError(.conflict, code: "illegal_transition",
                            message: "state: issue \(id) is \(state.rawValue); \(name) applies to \(allowed.map(\.rawValue).joined(separator: " or ")) issues",
                            field: "state")
        case .noDeadline(let clock):
            return APIError(.conflict, code: "no_deadline", message: "deadline: issue \(id) has no \(clock.rawValue) deadline", field: "deadline")
        case .unknownAgency(let code):
            return .invalid("agency", "'\(code)' is not an agency in the directory")
        case .notResponsible(let current):
            return APIError(.conflict, code: "not_responsible",
                            message: "agency: issue \(id) was handed over; \(current.joined(separator: ", ")) is responsible for it now", field: "agency")
        case .alreadyAssigned(let code):
            return APIError(.conflict, code: "already_assigned", message: "agency: issue \(id) is already assigned to \(code)", field: "agency")
        }
    }

    /// `If-Match: "7"` (or `7`, or `*` for any version).
    static func ifMatch(_ value: String?) throws -> Int? {
        guard var text = value?.trimmingCharacters(in: .whitespaces) else { return nil }
        if text == "*" { return nil }
        if text.hasPrefix("W/") { text.removeFirst(2) }
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        guard let version = Int(text), version > 0 else {
            throw APIError.badRequest("If-Match", "must be the issue's version as its ETag gives it, such as \"3\"")
        }
        return version
    }

    /// The issue as the caller may see it, with its version as ETag.
    func shown(_ id: Int64, actor: Actor, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], context: APIContext) async throws -> Response {
        guard let issue = try await storeCall(context, { try await issues.get(id: id, scope: actor, logger: context.logger) }) else {
            throw APIError.notFound(issue: id)
        }
        var headers = headers
        headers[.eTag] = "\"\(issue.version)\""
        return try APIJSON.response(issue, status: status, headers: headers)
    }

    static func issueID(_ context: APIContext) throws -> Int64 {
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text), id > 0 else {
            throw APIError.badRequest("id", "must be a positive whole number")
        }
        return id
    }

    // MARK: POST /v1/issues

    static let intakeFields: Set<String> = ["unit", "sector", "severity", "title", "description", "reporter"]

    func create(_ request: Request, context: APIContext) async throws -> Response {
        let actor = try context.actor(allowedTo: .create)
        try Self.requireJSON(request)
        let key = try Self.idempotencyKey(request.headers[HTTPField.Name("Idempotency-Key")!])
        let body = try await Self.collectBody(request)
        let object = try Self.jsonObject(body)
        for name in object.keys.sorted() where !Self.intakeFields.contains(name) {
            throw APIError.badRequest(name, "unknown field (expected \(Self.intakeFields.sorted().joined(separator: ", ")))")
        }
        // A unit reports for itself: it may leave `unit` out, and may not name another.
        var unit = try Self.string(object, "unit", required: actor.kind != .unit)
        if actor.kind == .unit {
            if let named = unit, named != actor.code {
                throw APIError(.forbidden, code: "forbidden", message: "unit: this token reports for unit \(actor.code ?? "") only", field: "unit")
            }
            unit = actor.code
        }
        let newIssue: NewIssue
        do {
            newIssue = try NewIssue.validated(
                unit: unit ?? "",
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
                created = try await issues.create(newIssue, origin: .api, idempotencyKey: key, reportedBy: actor.description, logger: context.logger)
            } else {
                // Grouped intake answers with the stored issue itself: no second read.
                let stored = try await intake.submit(newIssue, reportedBy: actor.description).get()
                context.logger.debug("issue stored", metadata: ["issue.id": "\(stored.id)"])
                return try APIJSON.response(stored, status: .created, headers: [.location: "/v1/issues/\(stored.id)", .eTag: "\"\(stored.version)\""])
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
        context.logger.debug("issue stored", metadata: ["issue.id": "\(created.id)", "issue.replayed": "\(created.replayed)"])
        var headers: HTTPFields = [.location: "/v1/issues/\(created.id)"]
        if created.replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return try await shown(created.id, actor: actor, status: .created, headers: headers, context: context)
    }

    /// The query's parameters by name: each one known and given once (400 naming it otherwise).
    static func queryValues(_ query: Parameters, allowed: Set<String>) throws -> [String: String] {
        var values: [String: String] = [:]
        for (key, value) in query {
            let name = String(key)
            guard allowed.contains(name) else {
                throw APIError.badRequest(name, "unknown query parameter (expected \(allowed.sorted().joined(separator: ", ")))")
            }
            guard values[name] == nil else { throw APIError.badRequest(name, "given twice") }
            values[name] = String(value)
        }
        return values
    }

    /// A body may only be JSON (or come without a Content-Type).
    static func requireJSON(_ request: Request) throws {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "Content-Type: send application/json", field: "Content-Type")
        }
    }

    /// The body, refused past the size limit.
    static func collectBody(_ request: Request, limit: Int = maximumBodySize) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "body: larger than \(limit) bytes", field: "body")
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

    func show(_ request: Request, context: APIContext) async throws -> Response {
        let actor = try context.actor()
        return try await shown(try Self.issueID(context), actor: actor, context: context)
    }

    // MARK: GET /v1/issues, GET /v1/inbox

    static let listParameters: Set<String> = ["unit", "area", "sector", "agency", "state", "overdue", "since", "sort", "limit", "cursor"]
    static let inboxParameters: Set<String> = ["overdue", "limit", "cursor"]

    struct Page: Encodable {
        var items: [IssueRecord]
        var nextCursor: String?
        enum CodingKeys: String, CodingKey {
            case items
            case nextCursor = "next_cursor"
        }
    }

    /// The inbox is the caller's open issues, deadline first (so the overdue ones lead).
    func list(_ request: Request, context: APIContext, inbox: Bool) async throws -> Response {
        let actor = try context.actor()
        var filter = try Self.filter(request.uri.queryParameters, allowed: inbox ? Self.inboxParameters : Self.listParameters, inbox: inbox)
        if inbox { filter.openOnly = true }
        let query = filter
        let page = try await storeCall(context, { try await issues.list(query, scope: actor, logger: context.logger) })
        return try APIJSON.response(Page(items: page.items, nextCursor: page.next.map(Self.cursor)))
    }

    static func filter(_ query: Parameters, allowed: Set<String> = listParameters, inbox: Bool = false) throws -> IssueFilter {
        let values = try queryValues(query, allowed: allowed)
        var filter = IssueFilter(sort: inbox ? .due : .newest)
        for field in ["unit", "area", "sector", "agency"] {
            guard let value = values[field] else { continue }
            guard Code.isValid(value) else { throw APIError.badRequest(field, "must be a\(field == "area" || field == "agency" ? "n" : "") \(field) code") }
            switch field {
            case "unit": filter.unit = value
            case "area": filter.area = value
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
            if filter.overdue { filter.sort = .due }
        }
        if let since = values["since"] {
            guard let date = ReportsController.instant(since) else {
                throw APIError.badRequest("since", "must be a date (2026-11-27) or a time (2026-11-27T08:00:00+07:00)")
            }
            filter.since = date
        }
        if let sort = values["sort"] {
            guard let parsed = IssueSort(rawValue: sort) else {
                throw APIError.badRequest("sort", "must be one of \(IssueSort.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if filter.overdue && parsed != .due { throw APIError.badRequest("sort", "overdue lists are sorted by due time") }
            filter.sort = parsed
        }
        if let cursor = values["cursor"] {
            guard let parsed = Self.cursor(cursor), parsed.sort == filter.sort else {
                throw APIError.badRequest("cursor", "not a cursor returned by this API for this list")
            }
            filter.cursor = parsed
        }
        return filter
    }

    /// Cursors are opaque to clients: base64url of `i:<id>` (newest first), `a:<id>` (oldest
    /// first) or `d:<due microseconds>:<id>` (deadline first).
    static func cursor(_ cursor: IssueCursor) -> String {
        let text = switch cursor.sort {
        case .newest: "i:\(cursor.id)"
        case .oldest: "a:\(cursor.id)"
        case .due: "d:\(cursor.dueMicros):\(cursor.id)"
        }
        return Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func cursor(_ text: String) -> IssueCursor? {
        guard let decoded = decodeCursor(text) else { return nil }
        let parts = decoded.split(separator: ":", omittingEmptySubsequences: false)
        switch (parts.first, parts.count) {
        case ("i", 2), ("a", 2):
            guard let id = Int64(parts[1]), id > 0 else { return nil }
            return IssueCursor(sort: parts[0] == "i" ? .newest : .oldest, id: id)
        case ("d", 3):
            guard let micros = Int64(parts[1]), let id = Int64(parts[2]), id > 0 else { return nil }
            return IssueCursor(sort: .due, dueMicros: micros, id: id)
        default:
            return nil
        }
    }

    /// A newest-first cursor over ids (the deliveries list uses it too).
    static func cursor(_ before: Int64) -> String { cursor(IssueCursor(sort: .newest, id: before)) }

    static func before(cursor text: String) -> Int64? {
        guard let parsed = cursor(text), parsed.sort == .newest else { return nil }
        return parsed.id
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
    func storeCall<T>(_ context: APIContext, _ body: () async throws -> T) async throws -> T {
        try await Self.storeCall(context, body)
    }

    static func storeCall<T>(_ context: APIContext, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as APIError {
            throw error
        } catch {
            throw Self.storeFailure(error, context: context)
        }
    }

    static func storeFailure(_ error: any Error, context: APIContext) -> APIError {
        context.logger.error("store call failed", metadata: NotificationListener.errorMetadata(error))
        return .unavailable
    }
}
