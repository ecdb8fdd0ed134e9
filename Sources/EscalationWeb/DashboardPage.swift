import EscalationCore
import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The province at a glance (`/dashboard`), its printable report (`/report`) and its tables as
/// CSV (`/dashboard.csv?table=...`): one period, within the signed-in person's scope (a member
/// sees their area, an agency its own issues, a supervisor everything), optionally one area or
/// sector of it. The period's tables are the summary report's (``ReportStore``), so every number
/// equals `GET /v1/reports/summary` for the same period and scope.
extension WebApp {
    /// What the query asked for, or the problems to show beside its fields.
    struct DashboardQuery {
        var period: ReportPeriod?
        var slice = DashboardStore.Slice()
        /// The values as typed, to show the form again.
        var form: [String: String] = [:]
        var errors: [String: String] = [:]
    }

    static func readDashboardQuery(_ q: [String: String], directory: Directory, today: LocalDate, locale: PersonLocale) -> DashboardQuery {
        func value(_ name: String) -> String? {
            guard let raw = q[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        let t = WebText.strings(locale)
        var query = DashboardQuery()
        for key in ["period", "from", "to", "area", "sector"] { query.form[key] = value(key) }
        do {
            query.period = try ReportPeriod.resolve(kind: value("period"), from: value("from"), to: value("to"), today: today)
        } catch {
            switch error {
            case .unknownKind: query.errors["period"] = t["period_unknown"]!
            case .badDate(let field): query.errors[field] = t["date_format"]!
            case .outOfRange(let field): query.errors[field] = t["date_years"]!
            case .reversed: query.errors["to"] = t["period_reversed"]!
            case .tooLong: query.errors["to"] = t["period_too_long"]!
            }
        }
        if let area = value("area") {
            if directory.areas.contains(where: { $0.code == area }) { query.slice.area = area } else { query.errors["area"] = t["unknown_area"]! }
        }
        if let sector = value("sector") {
            if directory.sectors.contains(where: { $0.code == sector }) { query.slice.sector = sector } else { query.errors["sector"] = t["unknown_sector"]! }
        }
        if let period = query.period, query.errors.isEmpty {
            query.form["period"] = period.kind.rawValue
            query.form["from"] = period.first.description
            query.form["to"] = period.last.description
        }
        return query
    }

    /// Everything one dashboard shows, read concurrently (each part is one statement).
    struct DashboardData {
        var period: ReportPeriod
        var summary: ReportStore.Summary
        var previous: ReportStore.Summary
        var now: DashboardStore.Now
        var longest: [DashboardStore.Overdue]
        var series: [DashboardStore.Point]
        var resolveTimes: [Int]
    }

    /// The bounds, in counted seconds, of the resolution-time chart's bars (4, 8, 16, 40 and 80 hours).
    static let resolveEdges = [4, 8, 16, 40, 80].map { $0 * 3600 }

    func dashboardData(_ period: ReportPeriod, slice: DashboardStore.Slice, viewer: Viewer, directory: Directory) async throws -> DashboardData {
        let reports = ReportStore(client: client), store = DashboardStore(client: client)
        let zone = directory.timeZone
        let edges = period.steps.compactMap { zone.startOfDay($0) }
        let previous = period.previous
        let actor = viewer.actor, logger = self.logger
        // The period's summary also counts the series' reports received per step.
        async let summary = reports.summary(from: .day(period.first.description), to: .day(period.last.description), scope: actor, slice: slice,
                                            detail: .dashboard, steps: edges, logger: logger)
        async let before = reports.summary(from: .day(previous.first.description), to: .day(previous.last.description), scope: actor, slice: slice,
                                           detail: .counts, logger: logger)
        async let now = store.now(scope: actor, slice: slice, logger: logger)
        async let longest = store.longestOverdue(scope: actor, slice: slice, logger: logger)
        async let steps = store.stepCounts(edges: edges, scope: actor, slice: slice, logger: logger)
        // The resolution-time chart counts the period summary's own times (the same reports).
        let read = try await summary
        let series = DashboardStore.series(edges: edges, received: read.receivedPerStep, counts: try await steps)
        return try await DashboardData(period: period, summary: read, previous: before, now: now, longest: longest, series: series,
                                       resolveTimes: read.resolveWorkingCounts(edges: Self.resolveEdges))
    }

    func today(_ directory: Directory) -> LocalDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = directory.timeZone
        let c = calendar.dateComponents([.year, .month, .day], from: Date())
        return LocalDate(year: c.year!, month: c.month!, day: c.day!)
    }

    /// `/dashboard` (`printable: false`) and `/report` (`printable: true`).
    func dashboardPage(_ request: Request, _ context: some WebRequestContext, printable: Bool) async throws -> Response {
        let started = ContinuousClock.now
        let viewer = try await requireViewer(request)
        guard viewer.actor.may(.report) else { return forbidden(viewer) }
        let compiled = try await directory()
        let directory = compiled.directory
        let parameters = (try? FormFields.parse(request.uri.query ?? "").values) ?? [:]
        let query = Self.readDashboardQuery(parameters, directory: directory, today: today(directory), locale: viewer.locale)
        let t = WebText.strings(viewer.locale)
        var values = layout(viewer, locale: viewer.locale, title: printable ? t["report_title"]! : t["dashboard"]!)
        values["f"] = query.form
        values["errors"] = query.errors
        values["periods"] = ReportPeriod.Kind.allCases.map { ["value": $0.rawValue, "label": t["period_" + $0.rawValue.replacingOccurrences(of: "-", with: "_")]!,
                                                              "selected": (query.form["period"] ?? "this-week") == $0.rawValue] }
        let wording = compiled.wording(viewer.locale)
        values["areas"] = directory.areas.map { ["value": $0.code, "label": $0.name, "selected": query.form["area"] == $0.code] }
        values["sectors"] = directory.sectors.map { ["value": $0.code, "label": wording.names.sector($0.code, locale: viewer.locale), "selected": query.form["sector"] == $0.code] }
        guard let period = query.period, query.errors.isEmpty else {
            values["error"] = t["fix_below"]!
            return pages.render(printable ? "print" : "dashboard", values, status: .badRequest)
        }
        let read = ContinuousClock.now
        let data = try await dashboardData(period, slice: query.slice, viewer: viewer, directory: directory)
        let database = ContinuousClock.now - read
        let view = DashboardView(data: data, slice: query.slice, directory: directory, wording: wording, locale: viewer.locale, scope: viewer.actor)
        values.merge(view.values()) { _, new in new }
        values["query"] = view.queryString
        values["printed_at"] = wording.dateTime(Date())
        values["printable"] = printable
        values["organisation"] = directory.name ?? t["app"]!
        var response = pages.render(printable ? "print" : "dashboard", values)
        // The server's own time, for the benchmark and a browser's developer tools.
        func ms(_ d: Duration) -> String { String(format: "%.1f", Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15) }
        response.headers[HTTPField.Name("Server-Timing")!] = "db;dur=\(ms(database)), total;dur=\(ms(ContinuousClock.now - started))"
        return response
    }

    /// `/dashboard.csv?table=agencies|sectors|areas|units|overdue|series|resolve-times` and the period's query.
    func dashboardCSV(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireViewer(request)
        guard viewer.actor.may(.report) else { return forbidden(viewer) }
        let compiled = try await directory()
        let directory = compiled.directory
        let parameters = (try? FormFields.parse(request.uri.query ?? "").values) ?? [:]
        let query = Self.readDashboardQuery(parameters, directory: directory, today: today(directory), locale: viewer.locale)
        let t = WebText.strings(viewer.locale)
        var errors = query.errors
        let table = parameters["table"] ?? ""
        if !DashboardView.csvTables.contains(table) { errors["table"] = t["unknown_table"]! }
        guard let period = query.period, errors.isEmpty else {
            return message(viewer, locale: viewer.locale, title: t["invalid"]!,
                           text: errors.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; "), status: .badRequest)
        }
        let data = try await dashboardData(period, slice: query.slice, viewer: viewer, directory: directory)
        let view = DashboardView(data: data, slice: query.slice, directory: directory, wording: compiled.wording(viewer.locale), locale: viewer.locale,
                                 scope: viewer.actor)
        var buffer = ByteBuffer(bytes: [0xEF, 0xBB, 0xBF])
        buffer.writeString(view.csv(table).map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n")
        var headers: HTTPFields = [
            .contentType: "text/csv; charset=utf-8",
            .contentDisposition: "attachment; filename=\"\(table)-\(period.first)-\(period.last).csv\"",
            .cacheControl: "no-store",
        ]
        for (name, value) in PageRenderer.securityHeaders { headers[name] = value }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
    }
}
