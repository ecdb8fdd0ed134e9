import EscalationCore
import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v1/reports/summary?from=&to=`: per unit, area and agency, received, on time, overdue and
/// how fast, as JSON or CSV (`format=csv` or `Accept: text/csv`), within the caller's scope.
struct ReportsController: Sendable {
    let reports: ReportStore

    func addRoutes(to router: Router<APIContext>) {
        router.get("/v1/reports/summary") { request, context in try await self.summary(request, context: context) }
    }

    static let parameters: Set<String> = ["from", "to", "format"]
    /// The longest window one report reads.
    static let maximumDays = 366

    func summary(_ request: Request, context: APIContext) async throws -> Response {
        let actor = try context.actor(allowedTo: .report)
        let values = try IssuesController.queryValues(request.uri.queryParameters, allowed: Self.parameters)
        let now = Date()
        let from = try values["from"].map { try Self.bound($0, field: "from") } ?? .instant(now.addingTimeInterval(-30 * 86_400))
        let to = try values["to"].map { try Self.bound($0, field: "to") } ?? .instant(now)
        if let lo = Self.approximate(from), let hi = Self.approximate(to, end: true) {
            guard lo < hi else { throw APIError.badRequest("to", "must be after from") }
            guard hi.timeIntervalSince(lo) <= Double(Self.maximumDays + 2) * 86_400 else {
                throw APIError.badRequest("to", "the window may be at most \(Self.maximumDays) days")
            }
        }
        var csv = request.headers[.accept]?.contains("text/csv") == true
        if let format = values["format"] {
            guard format == "json" || format == "csv" else { throw APIError.badRequest("format", "must be json or csv") }
            csv = format == "csv"
        }
        let summary = try await IssuesController.storeCall(context) { try await reports.summary(from: from, to: to, scope: actor, logger: context.logger) }
        guard csv else { return try APIJSON.response(summary) }
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                               .contentDisposition: #"attachment; filename="summary.csv""#],
                        body: .init(byteBuffer: ByteBuffer(string: Self.csv(summary))))
    }

    /// RFC 4180: a header line, then one line per unit, area and agency.
    static func csv(_ summary: ReportStore.Summary) -> String {
        func number(_ value: Double?) -> String { value.map { String(format: "%.0f", $0) } ?? "" }
        func quoted(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var lines = ["dimension,code,received,acknowledged_on_time,resolved_on_time,overdue,acknowledge_median_s,acknowledge_p90_s,resolve_median_s,resolve_p90_s"]
        for (dimension, rows) in [("unit", summary.units), ("area", summary.areas), ("agency", summary.agencies)] {
            for row in rows {
                lines.append([dimension, quoted(row.code), "\(row.received)", "\(row.acknowledgedOnTime)", "\(row.resolvedOnTime)", "\(row.overdue)",
                              number(row.acknowledgeSeconds.median), number(row.acknowledgeSeconds.p90),
                              number(row.resolveSeconds.median), number(row.resolveSeconds.p90)].joined(separator: ","))
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
}
