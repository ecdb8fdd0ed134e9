import EscalationCore
import EscalationStore
import EscalationYAML
import Foundation
import HTTPTypes
import OpenAPIRuntime

/// The summary report, and what the operator manages over the API as well as the CLI: tokens, the
/// directory and the outbox.
extension APIHandler {
    // MARK: GET /v1/reports/summary

    /// The longest window one report reads.
    static let maximumSummaryDays = 366

    /// Per unit, area and agency, received, on time, overdue and how fast, as JSON or CSV
    /// (`format=csv` or `Accept: text/csv`), within the caller's scope.
    func summaryReport(_ input: Operations.SummaryReport.Input) async throws -> Operations.SummaryReport.Output {
        let actor = try RequestScope.actor(allowedTo: .report)
        let logger = RequestScope.logger
        let now = Date()
        let from = try input.query.from.map { try Self.bound($0, field: "from") } ?? .instant(now.addingTimeInterval(-30 * 86_400))
        let to = try input.query.to.map { try Self.bound($0, field: "to") } ?? .instant(now)
        if let lo = Self.approximate(from), let hi = Self.approximate(to, end: true) {
            guard lo < hi else { throw APIError.badRequest("to", "must be after from") }
            guard hi.timeIntervalSince(lo) <= Double(Self.maximumSummaryDays + 2) * 86_400 else {
                throw APIError.badRequest("to", "the window may be at most \(Self.maximumSummaryDays) days")
            }
        }
        let csv = switch input.query.format {
        case .csv: true
        case .json: false
        case nil: Self.prefersCSV(input.headers.accept)
        }
        let summary = try await Self.storeCall { try await reports.summary(from: from, to: to, scope: actor, logger: logger) }
        guard csv else { return .ok(.init(body: .json(Components.Schemas.Summary(summary)))) }
        return .ok(.init(headers: .init(contentDisposition: #"attachment; filename="summary.csv""#), body: .csv(HTTPBody(Self.csv(summary)))))
    }

    /// CSV when `Accept` ranks text/csv above JSON (without an Accept header, every type ranks the same: JSON).
    static func prefersCSV(_ accept: [AcceptHeaderContentType<Operations.SummaryReport.AcceptableContentType>]) -> Bool {
        func rank(_ type: Operations.SummaryReport.AcceptableContentType) -> Double {
            accept.filter { $0.contentType == type }.map(\.quality.doubleValue).max() ?? 0
        }
        return rank(.csv) > rank(.json)
    }

    /// RFC 4180: a header line, then one line per unit, area, agency and sector.
    static func csv(_ summary: ReportStore.Summary) -> String {
        func number(_ value: Double?) -> String { value.map { String(format: "%.0f", $0) } ?? "" }
        func quoted(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var lines = ["dimension,code,received,acknowledged_on_time,resolved_on_time,overdue,acknowledge_median_s,acknowledge_p90_s,resolve_median_s,resolve_p90_s,"
                     + "acknowledge_working_median_s,acknowledge_working_p90_s,resolve_working_median_s,resolve_working_p90_s"]
        for (dimension, rows) in [("unit", summary.units), ("area", summary.areas), ("agency", summary.agencies), ("sector", summary.sectors)] {
            for row in rows {
                lines.append([dimension, quoted(row.code), "\(row.received)", "\(row.acknowledgedOnTime)", "\(row.resolvedOnTime)", "\(row.overdue)",
                              number(row.acknowledgeSeconds.median), number(row.acknowledgeSeconds.p90),
                              number(row.resolveSeconds.median), number(row.resolveSeconds.p90),
                              number(row.acknowledgeWorkingSeconds.median), number(row.acknowledgeWorkingSeconds.p90),
                              number(row.resolveWorkingSeconds.median), number(row.resolveWorkingSeconds.p90)].joined(separator: ","))
            }
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func bound(_ text: String, field: String) throws -> ReportStore.Bound {
        if let day = day(text) { return .day(day) }
        if let date = instant(text) { return .instant(date) }
        throw APIError.badRequest(field, "must be a date (2026-11-27) or a time (2026-11-27T08:00:00+07:00)")
    }

    /// A calendar day `yyyy-MM-dd` that exists (years 2000 to 2999).
    static func day(_ text: String) -> String? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.count == 10, parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (2000...2999).contains(y), (1...12).contains(m), d >= 1 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: y, month: m, day: 1)),
              let days = calendar.range(of: .day, in: .month, for: date), days.contains(d) else { return nil }
        return text
    }

    /// An RFC 3339 time (with a zone), or a day.
    static func instant(_ text: String) -> Date? {
        if let day = day(text) {
            return try? Date("\(day)T00:00:00Z", strategy: .iso8601)
        }
        guard text.count <= 40 else { return nil }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        guard let date = try? Date(text, strategy: .iso8601) else { return nil }
        let year = Calendar(identifier: .gregorian).component(.year, from: date)
        return (1970...2999).contains(year) ? date : nil
    }

    /// The bound as an instant to within a day (days read as UTC), for checking the window.
    static func approximate(_ bound: ReportStore.Bound, end: Bool = false) -> Date? {
        switch bound {
        case .instant(let date): return date
        case .day(let day): return instant(day)?.addingTimeInterval(end ? 86_400 : 0)
        }
    }

    // MARK: /v1/tokens

    func listTokens(_ input: Operations.ListTokens.Input) async throws -> Operations.ListTokens.Output {
        _ = try RequestScope.actor(allowedTo: .operate)
        let logger = RequestScope.logger
        let items = try await Self.storeCall { try await tokens.list(logger: logger) }
        return .ok(.init(body: .json(.init(items: items.map(Components.Schemas.Token.init)))))
    }

    func createToken(_ input: Operations.CreateToken.Input) async throws -> Operations.CreateToken.Output {
        _ = try RequestScope.actor(allowedTo: .operate)
        let logger = RequestScope.logger
        guard case .json(let body) = input.body else { throw APIError.badRequest("body", "send a JSON object") }
        let actor: Actor
        let name: String
        do {
            actor = try Actor.parse(body.actor)
            name = try TokenText.name(body.name)
        } catch {
            throw APIError.invalid(error.field, error.message)
        }
        var expires: Date?
        if let days = body.expiresInDays {
            guard (1...Self.maximumLifetimeDays).contains(days) else {
                throw APIError.invalid("expires_in_days", "must be from 1 to \(Self.maximumLifetimeDays)")
            }
            expires = Date().addingTimeInterval(Double(days) * 86_400)
        }
        do {
            let made = try await tokens.create(actor: actor, name: name, expiresAt: expires, logger: logger)
            return .created(.init(headers: .init(location: "/v1/tokens/\(made.token.id)", cacheControl: .noStore),
                                  body: .json(.init(token: Components.Schemas.Token(made.token), secret: made.secret))))
        } catch TokenStore.TokenError.unknownActor(let text) {
            throw APIError.invalid("actor", "'\(text)' names no \(actor.kind.rawValue) in the directory")
        } catch {
            throw Self.storeFailure(error, logger: logger)
        }
    }

    func revokeToken(_ input: Operations.RevokeToken.Input) async throws -> Operations.RevokeToken.Output {
        _ = try RequestScope.actor(allowedTo: .operate)
        let logger = RequestScope.logger
        let id = try Self.positiveID(input.path.id)
        guard try await Self.storeCall({ try await tokens.revoke(id: id, logger: logger) }) else {
            throw APIError.notFound("token \(id) does not exist or was revoked before")
        }
        authenticator.forgetAll()
        return .noContent(.init())
    }

    // MARK: /v1/directory

    func exportDirectory(_ input: Operations.ExportDirectory.Input) async throws -> Operations.ExportDirectory.Output {
        _ = try RequestScope.actor(allowedTo: .operate)
        let logger = RequestScope.logger
        let loaded = try await Self.storeCall { try await directory.load(logger: logger) }
        let text = DirectoryFile.render(loaded.directory, header: "escalated directory, revision \(loaded.revision)")
        return .ok(.init(headers: .init(eTag: "\"\(loaded.revision)\""), body: .yaml(HTTPBody(text))))
    }

    func importDirectory(_ input: Operations.ImportDirectory.Input) async throws -> Operations.ImportDirectory.Output {
        _ = try RequestScope.actor(allowedTo: .operate)
        let logger = RequestScope.logger
        guard case .yaml(let body) = input.body else { throw APIError.badRequest("body", "send the directory as YAML") }
        // The body middleware has already refused anything past the limit.
        let bytes = try await [UInt8](collecting: body, upTo: Self.maximumDirectorySize)
        guard let text = String(validating: bytes, as: UTF8.self) else {
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
        let result = try await Self.storeCall { try await directory.importDirectory(parsed, logger: logger) }
        return .ok(.init(body: .json(.init(changed: result.changed, revision: result.revision))))
    }

    // MARK: /v1/deliveries

    func listDeliveries(_ input: Operations.ListDeliveries.Input) async throws -> Operations.ListDeliveries.Output {
        _ = try RequestScope.actor(allowedTo: .operate)
        let logger = RequestScope.logger
        let limit = try Self.pageSize(input.query.limit, default: 50)
        var before: Int64?
        if let cursor = input.query.cursor {
            guard let id = Self.before(cursor: cursor) else { throw APIError.badRequest("cursor", "not a cursor returned by this API for this list") }
            before = id
        }
        let state = input.query.state?.rawValue
        let items = try await Self.storeCall { try await deliveries.list(state: state, before: before, limit: limit + 1, logger: logger) }
        let page = Array(items.prefix(limit))
        let next = items.count > limit ? page.last.map { Self.cursor(before: $0.id) } : nil
        return .ok(.init(body: .json(.init(items: page.map(Components.Schemas.Delivery.init), nextCursor: next))))
    }

    func retryDelivery(_ input: Operations.RetryDelivery.Input) async throws -> Operations.RetryDelivery.Output {
        _ = try RequestScope.actor(allowedTo: .operate)
        let logger = RequestScope.logger
        let id = try Self.positiveID(input.path.id)
        let notDead = APIError(.conflict, code: "not_dead", message: "id: delivery \(id) does not exist or is not dead", field: "id")
        guard try await Self.storeCall({ try await deliveries.retry(id: id, logger: logger) }) else { throw notDead }
        let shown = try await Self.storeCall { try await deliveries.list(state: nil, before: id + 1, limit: 1, logger: logger) }
        guard let delivery = shown.first, delivery.id == id else { throw notDead }
        return .ok(.init(body: .json(Components.Schemas.Delivery(delivery))))
    }
}
