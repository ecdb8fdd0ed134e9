import EscalationCore
import EscalationStore
import Foundation
import Logging
import HTTPTypes
import Hummingbird
import NIOCore

/// The lists: a unit's reports, an agency's inbox, a member's areas, everything for supervisors
/// and the operator. Filters live in the URL (a plain GET form), so a list can be bookmarked,
/// shared and exported: `/issues.csv` with the same query is the same list as CSV.
extension WebApp {
    /// A list's query, read and checked: the store's filter, the values to show back in the form,
    /// and a message per field that could not be read.
    struct ListQuery {
        var filter: IssueFilter
        var form: [String: String] = [:]
        var errors: [String: String] = [:]
        /// `open` (the default: open issues, the running deadline first) or `all` (newest first).
        var view = "open"
    }

    static func readListQuery(_ q: [String: String], pageSize: Int, directory: Directory, locale: PersonLocale) -> ListQuery {
        func value(_ name: String) -> String? {
            guard let raw = q[name] else { return nil }
            let text = raw.trimmingCharacters(in: .whitespaces)
            return text.isEmpty ? nil : text
        }
        let invalid = WebText.strings(locale)["invalid"]!
        var query = ListQuery(filter: IssueFilter(limit: pageSize))
        if let view = value("view"), view == "all" { query.view = "all" }
        if let state = value("state") {
            if let parsed = IssueState(rawValue: state) { query.filter.state = parsed; query.view = "all" } else { query.errors["state"] = invalid }
            query.form["state"] = state
        }
        query.filter.openOnly = query.view == "open"
        // Open issues by deadline (the inbox's order, on its index), others newest first.
        query.filter.sort = query.filter.openOnly || [.routed, .acknowledged, .reopened].contains(query.filter.state) ? .due : .newest
        if let unit = value("unit") {
            if directory.units.contains(where: { $0.code == unit }) { query.filter.unit = unit } else { query.errors["unit"] = invalid }
            query.form["unit"] = unit
        }
        if let area = value("area") {
            if directory.areas.contains(where: { $0.code == area }) { query.filter.area = area } else { query.errors["area"] = invalid }
            query.form["area"] = area
        }
        if let sector = value("sector") {
            if directory.sectors.contains(where: { $0.code == sector }) { query.filter.sector = sector } else { query.errors["sector"] = invalid }
            query.form["sector"] = sector
        }
        if let agency = value("agency") {
            if directory.agencies.contains(where: { $0.code == agency }) { query.filter.agency = agency } else { query.errors["agency"] = invalid }
            query.form["agency"] = agency
        }
        if value("overdue") != nil {
            query.filter.overdue = true
            query.form["overdue"] = "1"
        }
        if let since = value("since") {
            // An <input type=date> sends yyyy-MM-dd; people typing write dd/MM/yyyy.
            let local = LocalDate(since) ?? Self.vietnameseDate(since)
            if let local, let start = directory.timeZone.startOfDay(local) { query.filter.since = start } else {
                query.errors["since"] = locale == .vi ? "Ngày phải viết dạng dd/mm/yyyy." : "Write the date as dd/mm/yyyy."
            }
            query.form["since"] = since
        }
        if let until = value("until") {
            // The last day included, as the dashboards link it.
            let local = LocalDate(until) ?? Self.vietnameseDate(until)
            if let local, let end = directory.timeZone.startOfDay(local.adding(days: 1)) { query.filter.before = end } else {
                query.errors["until"] = locale == .vi ? "Ngày phải viết dạng dd/mm/yyyy." : "Write the date as dd/mm/yyyy."
            }
            query.form["until"] = until
        }
        if let words = value("q") {
            if words.count <= 200 { query.filter.words = words } else { query.errors["q"] = WebText.strings(locale)["too_long"]! }
            query.form["q"] = words
        }
        if let after = value("after") {
            let parts = after.split(separator: ".")
            if parts.count == 3, parts[0] == "d", let micros = Int64(parts[1]), let id = Int64(parts[2]), query.filter.sort == .due {
                query.filter.cursor = IssueCursor(sort: .due, dueMicros: micros, id: id)
            } else if parts.count == 2, parts[0] == "n", let id = Int64(parts[1]), query.filter.sort == .newest {
                query.filter.cursor = IssueCursor(sort: .newest, id: id)
            }
        }
        return query
    }

    static func vietnameseDate(_ text: String) -> LocalDate? {
        let parts = text.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        let date = LocalDate(year: parts[2], month: parts[1], day: parts[0])
        return LocalDate(date.description) == date ? date : nil
    }

    /// The query string of `query` (without the cursor), for links and the CSV.
    static func queryString(_ query: ListQuery, extra: [(String, String)] = []) -> String {
        var pairs: [(String, String)] = []
        if query.view == "all", query.form["state"] == nil { pairs.append(("view", "all")) }
        for key in ["state", "unit", "area", "sector", "agency", "overdue", "since", "until", "q"] {
            if let value = query.form[key] { pairs.append((key, value)) }
        }
        pairs += extra
        return pairs.map { "\($0.0)=\(queryEscape($0.1))" }.joined(separator: "&")
    }

    func list(_ request: Request, _ context: some WebRequestContext, csv: Bool) async throws -> Response {
        let viewer = try await requireViewer(request)
        let compiled = try await directory()
        let directory = compiled.directory
        let wording = compiled.wording(viewer.locale)
        // Read from the raw query: a "+" is a space and "%2B" a plus, which decoded parameters can no longer tell apart.
        let parameters = (try? FormFields.parse(request.uri.query ?? "").values) ?? [:]
        var query = Self.readListQuery(parameters, pageSize: configuration.pageSize, directory: directory, locale: viewer.locale)
        if csv { return try await csvExport(query, viewer: viewer, compiled: compiled, wording: wording) }
        let t = WebText.strings(viewer.locale)
        var page: IssuePage?
        if query.errors.isEmpty {
            page = try await issues.list(query.filter, scope: viewer.actor, logger: logger)
        }
        let items = page?.items ?? []
        let now = Date()
        let title: String = switch viewer.actor.kind {
        case .unit: t["my_reports"]!
        case .agency: t["inbox"]!
        case .member: t["area_issues"]!
        case .supervisor, .admin: t["all_issues"]!
        }
        var values = layout(viewer, locale: viewer.locale, title: title)
        values["heading"] = title
        values["rows"] = items.map { Self.row($0, wording: wording, policy: compiled.policy, now: now) }
        values["empty"] = items.isEmpty
        values["live_scope"] = "list"
        values["last_event"] = "\(try await live.latestID())"
        if let next = page?.next {
            let cursor = next.sort == .due ? "d.\(next.dueMicros).\(next.id)" : "n.\(next.id)"
            values["next_href"] = "/issues?" + Self.queryString(query, extra: [("after", cursor)])
        }
        if query.filter.cursor != nil { values["first_href"] = "/issues?" + Self.queryString(query) }
        values["csv_href"] = "/issues.csv?" + Self.queryString(query)
        values["can_report"] = viewer.actor.may(.create)
        if !query.errors.isEmpty { values["error"] = t["fix_below"]! }
        values["errors"] = query.errors
        // The filter form, with its values kept.
        query.form["view"] = query.view
        values["f"] = query.form
        values["view_all"] = query.view == "all"
        values["states"] = IssueState.allCases.map { ["value": $0.rawValue, "label": wording.state($0), "selected": query.form["state"] == $0.rawValue] }
        values["sectors"] = directory.sectors.map { ["value": $0.code, "label": wording.names.sector($0.code, locale: viewer.locale), "selected": query.form["sector"] == $0.code] }
        values["areas"] = directory.areas.map { ["value": $0.code, "label": $0.name, "selected": query.form["area"] == $0.code] }
        values["units"] = directory.units.count <= 500
            ? directory.units.map { ["value": $0.code, "label": $0.name, "selected": query.form["unit"] == $0.code] } : []
        values["show_unit_filter"] = viewer.actor.kind != .unit
        values["show_agency_filter"] = viewer.actor.kind != .unit && viewer.actor.kind != .agency
        values["agencies"] = directory.agencies.map { ["value": $0.code, "label": $0.name, "selected": query.form["agency"] == $0.code] }
        return pages.render("issues", values, status: query.errors.isEmpty ? .ok : .badRequest)
    }

    /// One row of a list, as the template reads it.
    static func row(_ issue: IssueRecord, wording: Wording, policy: EscalationPolicy, now: Date) -> [String: Any] {
        var row: [String: Any] = [
            "id": "\(issue.id)",
            "href": "/issues/\(issue.id)",
            "unit": wording.names.unit(issue.unit),
            "sector": wording.names.sector(issue.sector, locale: wording.locale),
            "title": issue.title,
            "state": wording.state(issue.state),
            "state_code": issue.state.rawValue,
            "urgent": issue.severity == .urgent,
            "severity": wording.severity(issue.severity),
            "level": issue.escalation.level > 0 ? "\(issue.escalation.level)" as Any : false,
        ]
        let time = timeText(issue, wording: wording, policy: policy, now: now)
        row["time"] = time.text
        row["overdue"] = time.overdue
        row["row_class"] = [time.overdue ? "late" : nil, issue.severity == .urgent ? "urgent" : nil].compactMap { $0 }.joined(separator: " ")
        return row
    }

    /// "còn 2 giờ 30 phút làm việc" (working time on the sector's calendar) or "quá hạn 1 ngày 3 giờ"
    /// (time since the deadline), for the deadline running now; empty when none runs.
    static func timeText(_ issue: IssueRecord, wording: Wording, policy: EscalationPolicy, now: Date) -> (text: String, overdue: Bool) {
        guard let due = issue.deadlines.dueAt else { return ("", false) }
        if due <= now {
            return (wording.overdue(seconds: Int(now.timeIntervalSince(due))), true)
        }
        let time = policy.time(sector: issue.sector, severity: issue.severity)
        return (wording.workingTimeLeft(seconds: time.workingSeconds(from: now, to: due)), false)
    }

    /// The list as CSV (UTF-8 with a byte-order mark, so that Excel reads Vietnamese), every page of
    /// the filter up to ``WebConfiguration/csvLimit`` rows.
    func csvExport(_ query: ListQuery, viewer: Viewer, compiled: RoutingTableCache.Compiled, wording: Wording) async throws -> Response {
        guard query.errors.isEmpty else {
            let t = WebText.strings(viewer.locale)
            return message(viewer, locale: viewer.locale, title: t["invalid"]!, text: query.errors.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; "), status: .badRequest)
        }
        let vi = viewer.locale == .vi
        var lines = [(vi ? ["Số", "Đơn vị", "Lĩnh vực", "Mức độ", "Trạng thái", "Tiêu đề", "Tiếp nhận lúc", "Thời hạn", "Thời gian", "Cấp"]
                        : ["No.", "Unit", "Sector", "Severity", "State", "Title", "Received", "Due", "Time", "Level"]).map(Self.csvField).joined(separator: ",")]
        var filter = query.filter
        filter.limit = IssueFilter.maximumLimit
        filter.cursor = nil
        let now = Date()
        var count = 0
        while count < configuration.csvLimit {
            let page = try await issues.list(filter, scope: viewer.actor, logger: logger)
            for issue in page.items where count < configuration.csvLimit {
                let time = Self.timeText(issue, wording: wording, policy: compiled.policy, now: now)
                lines.append([
                    "\(issue.id)", wording.names.unit(issue.unit), wording.names.sector(issue.sector, locale: viewer.locale),
                    wording.severity(issue.severity), wording.state(issue.state), issue.title, wording.dateTime(issue.createdAt),
                    issue.deadlines.dueAt.map(wording.dateTime) ?? "", time.text, "\(issue.escalation.level)",
                ].map(Self.csvField).joined(separator: ","))
                count += 1
            }
            guard let next = page.next else { break }
            filter.cursor = next
        }
        var buffer = ByteBuffer(bytes: [0xEF, 0xBB, 0xBF])
        buffer.writeString(lines.joined(separator: "\r\n") + "\r\n")
        var headers: HTTPFields = [
            .contentType: "text/csv; charset=utf-8",
            .contentDisposition: "attachment; filename=\"\(vi ? "phan-anh" : "issues").csv\"",
            .cacheControl: "no-store",
        ]
        for (name, value) in PageRenderer.securityHeaders { headers[name] = value }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
    }

    /// A CSV field: quoted when it holds a comma, a quote or a line break; a leading `=`, `+`,
    /// `-` or `@` is prefixed with `'` so that a spreadsheet shows a title as text, never runs it.
    static func csvField(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, "=+-@\t\r\n".unicodeScalars.contains(first) { text = "'" + text }
        // By scalar: "\r\n" is one Character in Swift, equal to neither "\r" nor "\n".
        guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension TimeZone {
    /// Midnight of `date` here.
    func startOfDay(_ date: LocalDate) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = self
        return calendar.date(from: DateComponents(year: date.year, month: date.month, day: date.day))
    }
}
