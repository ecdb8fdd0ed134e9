import EscalationCore
import EscalationStore
import Foundation
import HTTPTypes
import Logging
import OpenAPIRuntime

/// `/v1/issues` and `/v1/inbox`: intake, reading, lists, and the actions on an issue.
extension APIHandler {
    // MARK: POST /v1/issues

    func createIssue(_ input: Operations.CreateIssue.Input) async throws -> Operations.CreateIssue.Output {
        let actor = try RequestScope.actor(allowedTo: .create)
        let logger = RequestScope.logger
        let key = try Self.idempotencyKey(input.headers.idempotencyKey)
        guard case .json(let body) = input.body else { throw APIError.badRequest("body", "send a JSON object") }
        // A unit reports for itself: it may leave `unit` out, and may not name another.
        var unit = body.unit
        if actor.kind == .unit {
            if let named = unit, named != actor.code {
                throw APIError(.forbidden, code: "forbidden", message: "unit: this token reports for unit \(actor.code ?? "") only", field: "unit")
            }
            unit = actor.code
        } else if unit == nil {
            throw APIError.badRequest("unit", "is required")
        }
        let newIssue: NewIssue
        do {
            newIssue = try NewIssue.validated(unit: unit ?? "", sector: body.sector, severity: body.severity?.rawValue,
                                              title: body.title, description: body.description, reporter: body.reporter)
        } catch {
            throw APIError.invalid(error.field, error.message)
        }
        let created: IssueStore.Created
        do {
            if let key {
                created = try await issues.create(newIssue, origin: .api, idempotencyKey: key, reportedBy: actor.description, logger: logger)
            } else {
                // Grouped intake answers with the stored issue itself: no second read.
                let stored = try await intake.submit(newIssue, reportedBy: actor.description).get()
                logger.debug("issue stored", metadata: ["issue.id": "\(stored.id)"])
                return .created(.init(headers: .init(location: "/v1/issues/\(stored.id)", eTag: Self.eTag(stored.version)),
                                      body: .json(Components.Schemas.Issue(stored))))
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
            throw Self.storeFailure(error, logger: logger)
        }
        logger.debug("issue stored", metadata: ["issue.id": "\(created.id)", "issue.replayed": "\(created.replayed)"])
        let issue = try await shown(created.id, actor: actor)
        return .created(.init(headers: .init(location: "/v1/issues/\(created.id)", eTag: Self.eTag(issue.version),
                                             idempotentReplayed: created.replayed ? ._true : nil),
                              body: .json(issue)))
    }

    static func idempotencyKey(_ value: String?) throws -> String? {
        guard let value else { return nil }
        guard !value.isEmpty, value.count <= maximumIdempotencyKeyLength,
              value.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7E }) else {
            throw APIError.badRequest("Idempotency-Key", "must be 1 to \(maximumIdempotencyKeyLength) visible ASCII characters")
        }
        return value
    }

    // MARK: GET /v1/issues/{id}

    func getIssue(_ input: Operations.GetIssue.Input) async throws -> Operations.GetIssue.Output {
        let actor = try RequestScope.actor()
        let issue = try await shown(try Self.positiveID(input.path.id), actor: actor)
        return .ok(.init(headers: .init(eTag: Self.eTag(issue.version)), body: .json(issue)))
    }

    /// The issue as the caller may see it (404 when it is not theirs to see).
    func shown(_ id: Int64, actor: Actor) async throws -> Components.Schemas.Issue {
        let logger = RequestScope.logger
        guard let issue = try await Self.storeCall({ try await issues.get(id: id, scope: actor, logger: logger) }) else {
            throw APIError.notFound(issue: id)
        }
        return Components.Schemas.Issue(issue)
    }

    /// An issue's, token's or delivery's id from the path: a positive whole number.
    static func positiveID(_ id: Int64) throws -> Int64 {
        guard id > 0 else { throw APIError.badRequest("id", "must be a positive whole number") }
        return id
    }

    /// An issue's version as its ETag (`"3"`).
    static func eTag(_ version: Int) -> String { "\"\(version)\"" }

    // MARK: GET /v1/issues, GET /v1/inbox

    func listIssues(_ input: Operations.ListIssues.Input) async throws -> Operations.ListIssues.Output {
        let query = input.query
        var filter = IssueFilter(sort: .newest)
        for (field, value) in [("unit", query.unit), ("area", query.area), ("sector", query.sector), ("agency", query.agency)] {
            guard let value else { continue }
            guard Code.isValid(value) else { throw APIError.badRequest(field, "must be a\(field == "area" || field == "agency" ? "n" : "") \(field) code") }
        }
        filter.unit = query.unit
        filter.area = query.area
        filter.sector = query.sector
        filter.agency = query.agency
        filter.state = query.state.flatMap { IssueState(rawValue: $0.rawValue) }
        if let since = query.since {
            guard let date = Self.instant(since) else {
                throw APIError.badRequest("since", "must be a date (2026-11-27) or a time (2026-11-27T08:00:00+07:00)")
            }
            filter.since = date
        }
        if query.overdue == ._true {
            filter.overdue = true
            filter.sort = .due
        }
        if let sort = query.sort.flatMap({ IssueSort(rawValue: $0.rawValue) }) {
            if filter.overdue && sort != .due { throw APIError.badRequest("sort", "overdue lists are sorted by due time") }
            filter.sort = sort
        }
        try Self.page(&filter, limit: query.limit, cursor: query.cursor)
        return .ok(.init(body: .json(try await page(filter))))
    }

    /// The inbox is the caller's open issues, deadline first (so the overdue ones lead).
    func inbox(_ input: Operations.Inbox.Input) async throws -> Operations.Inbox.Output {
        var filter = IssueFilter(openOnly: true, overdue: input.query.overdue == ._true, sort: .due)
        try Self.page(&filter, limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(try await page(filter))))
    }

    func page(_ filter: IssueFilter) async throws -> Components.Schemas.IssuePage {
        let actor = try RequestScope.actor()
        let logger = RequestScope.logger
        let page = try await Self.storeCall { try await issues.list(filter, scope: actor, logger: logger) }
        return .init(items: page.items.map(Components.Schemas.Issue.init), nextCursor: page.next.map(Self.cursor))
    }

    /// The page size and where the previous page stopped (a cursor of the list's own order).
    static func page(_ filter: inout IssueFilter, limit: Int?, cursor: String?) throws {
        filter.limit = try pageSize(limit, default: filter.limit)
        if let cursor {
            guard let parsed = Self.cursor(cursor), parsed.sort == filter.sort else {
                throw APIError.badRequest("cursor", "not a cursor returned by this API for this list")
            }
            filter.cursor = parsed
        }
    }

    /// A page size (`limit`) for any list: 1 to 200, `fallback` when not given.
    static func pageSize(_ limit: Int?, default fallback: Int) throws -> Int {
        guard let limit else { return fallback }
        guard (1...IssueFilter.maximumLimit).contains(limit) else {
            throw APIError.badRequest("limit", "must be a whole number from 1 to \(IssueFilter.maximumLimit)")
        }
        return limit
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
    static func cursor(before id: Int64) -> String { cursor(IssueCursor(sort: .newest, id: id)) }

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

    // MARK: POST /v1/issues/{id}/{action}

    func acknowledgeIssue(_ input: Operations.AcknowledgeIssue.Input) async throws -> Operations.AcknowledgeIssue.Output {
        .ok(try await act(.acknowledge, id: input.path.id, ifMatch: input.headers.ifMatch))
    }

    func commentIssue(_ input: Operations.CommentIssue.Input) async throws -> Operations.CommentIssue.Output {
        guard case .json(let body) = input.body else { throw APIError.badRequest("body", "send a JSON object") }
        let kind = body.kind.flatMap { CommentKind(rawValue: $0.rawValue) } ?? .note
        return .ok(try await act(.comment(kind: kind, text: try Self.text(body.text, field: "text")), id: input.path.id, ifMatch: input.headers.ifMatch))
    }

    func reassignIssue(_ input: Operations.ReassignIssue.Input) async throws -> Operations.ReassignIssue.Output {
        guard case .json(let body) = input.body else { throw APIError.badRequest("body", "send a JSON object") }
        guard Code.isValid(body.agency) else { throw APIError.invalid("agency", "must be an agency code") }
        return .ok(try await act(.reassign(agency: body.agency, reason: try Self.text(body.reason, field: "reason")),
                                 id: input.path.id, ifMatch: input.headers.ifMatch))
    }

    func resolveIssue(_ input: Operations.ResolveIssue.Input) async throws -> Operations.ResolveIssue.Output {
        guard case .json(let body) = input.body else { throw APIError.badRequest("body", "send a JSON object") }
        return .ok(try await act(.resolve(resolution: try Self.text(body.resolution, field: "resolution")), id: input.path.id, ifMatch: input.headers.ifMatch))
    }

    func reopenIssue(_ input: Operations.ReopenIssue.Input) async throws -> Operations.ReopenIssue.Output {
        guard case .json(let body) = input.body else { throw APIError.badRequest("body", "send a JSON object") }
        return .ok(try await act(.reopen(reason: try Self.text(body.reason, field: "reason")), id: input.path.id, ifMatch: input.headers.ifMatch))
    }

    func extendDeadline(_ input: Operations.ExtendDeadline.Input) async throws -> Operations.ExtendDeadline.Output {
        guard case .json(let body) = input.body else { throw APIError.badRequest("body", "send a JSON object") }
        guard let clock = DeadlineClock(rawValue: body.deadline.rawValue) else { throw APIError.invalid("deadline", "must be acknowledge or resolve") }
        guard let seconds = DurationText.seconds(body.by) else {
            throw APIError.invalid("by", "'\(body.by)' is not a duration such as 4h, 90m, 1h30m, 2d or 30s")
        }
        return .ok(try await act(.extend(deadline: clock, bySeconds: seconds, reason: try Self.text(body.reason, field: "reason")),
                                 id: input.path.id, ifMatch: input.headers.ifMatch))
    }

    func closeIssue(_ input: Operations.CloseIssue.Input) async throws -> Operations.CloseIssue.Output {
        .ok(try await act(.close, id: input.path.id, ifMatch: input.headers.ifMatch))
    }

    /// What every action answers: the issue as it is now, with its version as ETag.
    typealias Acted = Components.Responses.Acted

    /// Performs `action` as the caller: within their scope, with their right, at the version they saw.
    func act(_ action: IssueAction, id: Int64, ifMatch: String?) async throws -> Acted {
        let actor = try RequestScope.actor()
        let logger = RequestScope.logger
        let id = try Self.positiveID(id)
        let expected = try Self.ifMatch(ifMatch)
        do {
            try await lifecycle.perform(action, issue: id, actor: actor, expectedVersion: expected, logger: logger)
        } catch let error as IssueActionError {
            throw Self.apiError(error, issue: id, action: action.name)
        } catch {
            throw Self.storeFailure(error, logger: logger)
        }
        let issue = try await shown(id, actor: actor)
        return .init(headers: .init(eTag: Self.eTag(issue.version)), body: .json(issue))
    }

    /// A reason, resolution or comment: trimmed, not empty, not too long (422 naming the field).
    static func text(_ value: String, field: String) throws -> String {
        do {
            return try ActionText.reason(value, field: field)
        } catch {
            throw APIError.invalid(error.field, error.message)
        }
    }

    static func apiError(_ error: IssueActionError, issue id: Int64, action name: String) -> APIError {
        switch error {
        case .notFound: return .notFound(issue: id)
        case .forbidden(let kind):
            return .forbidden(kind, Actor.Operation(rawValue: name) ?? .operate, what: "\(name) issues")
        case .staleVersion(let current):
            return APIError(.preconditionFailed, code: "version_mismatch",
                            message: "If-Match: issue \(id) is at version \(current); read it again before acting", field: "If-Match",
                            headers: [.eTag: eTag(current)])
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
}
