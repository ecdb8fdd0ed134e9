import EscalationCore
import EscalationStore
import Foundation

/// A dashboard's data as the templates read it (every value escaped by Mustache, the charts
/// included: they are SVG elements whose attributes come from here; the grid of units, thousands
/// of cells at national scale, as an ``HTMLFragment``) and as CSV tables.
struct DashboardView {
    let data: WebApp.DashboardData
    let slice: DashboardStore.Slice
    let directory: Directory
    let wording: Wording
    let locale: PersonLocale
    let scope: Actor

    var t: [String: String] { WebText.strings(locale) }
    var period: ReportPeriod { data.period }

    static let csvTables = ["agencies", "sectors", "areas", "units", "overdue", "series", "resolve-times"]

    /// The period and slice as a query string (for the print, CSV and chart links).
    var queryString: String {
        var pairs = [("period", period.kind.rawValue), ("from", period.first.description), ("to", period.last.description)]
        if let area = slice.area { pairs.append(("area", area)) }
        if let sector = slice.sector { pairs.append(("sector", sector)) }
        return pairs.map { "\($0.0)=\(WebApp.queryEscape($0.1))" }.joined(separator: "&")
    }

    /// A link to the issue list that makes a number: `pairs` and the dashboard's slice.
    func list(_ pairs: [(String, String)]) -> String {
        var all = pairs
        if let area = slice.area { all.append(("area", area)) }
        if let sector = slice.sector { all.append(("sector", sector)) }
        return "/issues?" + all.map { "\($0.0)=\(WebApp.queryEscape($0.1))" }.joined(separator: "&")
    }

    var receivedPairs: [(String, String)] { [("view", "all"), ("since", period.first.description), ("until", period.last.description)] }

    // MARK: Numbers

    static func percent(_ part: Int, of whole: Int) -> Double? {
        whole == 0 ? nil : Double(part) / Double(whole) * 100
    }

    func percentText(_ value: Double?) -> String {
        guard let value else { return "–" }
        return "\(Int(value.rounded()))%"
    }

    /// `+3`, `−2`, `0`, or `` without a previous figure; with its class (`up`, `down`, ``).
    func delta(_ now: Double?, _ before: Double?, goodWhenUp: Bool) -> [String: Any] {
        guard let now, let before else { return ["text": "", "class": "", "shown": false] }
        let d = Int((now - before).rounded())
        let text = d > 0 ? "+\(d)" : d < 0 ? "−\(-d)" : "0"
        let better = d == 0 ? "" : ((d > 0) == goodWhenUp ? "better" : "worse")
        return ["text": text, "class": better, "shown": true]
    }

    func durationText(_ seconds: Double?) -> String {
        seconds.map { wording.duration(seconds: Int($0.rounded())) } ?? "–"
    }

    /// The rows of a dimension: every code the directory lists for it within the scope, then any
    /// code only the data has (`-`: no agency).
    func table(codes: [String], name: (String) -> String, current: [ReportStore.Row], before: [ReportStore.Row],
               standing: [DashboardStore.Standing], key: String) -> [[String: Any]] {
        let rows = Dictionary(current.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        let previous = Dictionary(before.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        let now = Dictionary(standing.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        var order = codes
        for code in Set(rows.keys).union(now.keys).subtracting(codes).sorted() { order.append(code) }
        return order.map { code in
            let row = rows[code], old = previous[code], standing = now[code]
            let received = row?.received ?? 0
            let ack = Self.percent(row?.acknowledgedOnTime ?? 0, of: received), oldAck = old.flatMap { Self.percent($0.acknowledgedOnTime, of: $0.received) }
            let resolved = Self.percent(row?.resolvedOnTime ?? 0, of: received), oldResolved = old.flatMap { Self.percent($0.resolvedOnTime, of: $0.received) }
            let linkable = code != "-"
            var line: [String: Any] = [
                "code": code, "name": code == "-" ? t["no_agency"]! : name(code),
                "open": standing?.open ?? 0, "overdue": standing?.overdue ?? 0, "received": received,
                "received_delta": delta(Double(received), old.map { Double($0.received) } ?? 0, goodWhenUp: false),
                "ack_pct": percentText(ack), "ack_delta": delta(ack, oldAck, goodWhenUp: true),
                "resolved_pct": percentText(resolved), "resolved_delta": delta(resolved, oldResolved, goodWhenUp: true),
                "ack_median": durationText(row?.acknowledgeWorkingSeconds.median), "ack_p90": durationText(row?.acknowledgeWorkingSeconds.p90),
                "resolve_median": durationText(row?.resolveWorkingSeconds.median), "resolve_p90": durationText(row?.resolveWorkingSeconds.p90),
                "late": (standing?.overdue ?? 0) > 0,
            ]
            if linkable {
                line["open_href"] = list([(key, code)])
                line["overdue_href"] = list([(key, code), ("overdue", "1")])
                line["received_href"] = list(receivedPairs + [(key, code)])
            }
            return line
        }
    }

    /// The units the grid shows: the scope's (a member's areas, a unit itself), within the slice.
    var gridUnits: [EscalationCore.Unit] {
        var units = directory.units
        switch scope.kind {
        case .unit: units = units.filter { $0.code == scope.code }
        case .member:
            let areas = Set(directory.areas.filter { $0.member == scope.code }.map(\.code))
            units = units.filter { areas.contains($0.area) }
        case .agency, .supervisor, .admin: break
        }
        if let area = slice.area { units = units.filter { $0.area == area } }
        return units
    }

    var agencyCodes: [String] {
        let all = directory.agencies.map(\.code)
        if scope.kind == .agency { return all.filter { $0 == scope.code } }
        if let sector = slice.sector, let agency = directory.sectors.first(where: { $0.code == sector })?.agency { return [agency] }
        return all
    }

    var sectorCodes: [String] {
        let all = directory.sectors.map(\.code)
        if let sector = slice.sector { return [sector] }
        if scope.kind == .agency { return directory.sectors.filter { $0.agency == scope.code }.map(\.code) }
        return all
    }

    // MARK: Page values

    func values() -> [String: Any] {
        var v: [String: Any] = [:]
        let s = data.summary, p = data.previous
        let total = s.totals, before = p.totals
        let received = total.received, previousReceived = before.received
        let ack = Self.percent(total.acknowledgedOnTime, of: received)
        let resolved = Self.percent(total.resolvedOnTime, of: received)
        let oldAck = Self.percent(before.acknowledgedOnTime, of: previousReceived)
        let oldResolved = Self.percent(before.resolvedOnTime, of: previousReceived)
        let open = data.now.units.reduce(0) { $0 + $1.open }, overdue = data.now.units.reduce(0) { $0 + $1.overdue }
        v["period_text"] = "\(wording.date(period.first)) – \(wording.date(period.last))"
        v["previous_text"] = "\(wording.date(period.previous.first)) – \(wording.date(period.previous.last))"
        v["scope_text"] = scopeText
        v["headline"] = [
            ["label": t["received_count"]!, "value": "\(received)", "href": list(receivedPairs), "delta": delta(Double(received), Double(previousReceived), goodWhenUp: false)],
            ["label": t["ack_on_time"]!, "value": percentText(ack), "href": list(receivedPairs), "delta": delta(ack, oldAck, goodWhenUp: true)],
            ["label": t["resolved_on_time"]!, "value": percentText(resolved), "href": list(receivedPairs), "delta": delta(resolved, oldResolved, goodWhenUp: true)],
            ["label": t["open_now"]!, "value": "\(open)", "href": list([]), "delta": ["text": "", "class": "", "shown": false]],
            ["label": t["overdue_now"]!, "value": "\(overdue)", "href": list([("overdue", "1")]), "delta": ["text": "", "class": "", "shown": false], "late": overdue > 0],
        ]
        v["nothing"] = received == 0
        let units = gridUnits
        v["grid_html"] = gridHTML(grid, compact: units.count > 300)
        v["grid_empty"] = units.isEmpty
        v["agencies"] = table(codes: agencyCodes, name: wording.names.agency, current: s.agencies, before: p.agencies,
                              standing: data.now.agencies, key: "agency")
        v["sectors_table"] = table(codes: sectorCodes, name: { wording.names.sector($0, locale: locale) }, current: s.sectors, before: p.sectors,
                                   standing: data.now.sectors, key: "sector")
        let now = Date()
        v["longest"] = data.longest.map { issue -> [String: Any] in
            ["id": "\(issue.id)", "href": "/issues/\(issue.id)", "title": issue.title, "unit": wording.names.unit(issue.unit),
             "sector": wording.names.sector(issue.sector, locale: locale), "agency": issue.agency.map(wording.names.agency) ?? "–",
             "due": wording.dateTime(issue.dueAt), "late": wording.overdue(seconds: Int(now.timeIntervalSince(issue.dueAt)))]
        }
        v["longest_empty"] = data.longest.isEmpty
        v["charts"] = [flowChart, overdueChart, resolveChart]
        v["csv"] = Self.csvTables.map { ["href": "/dashboard.csv?table=\($0)&" + queryString, "label": t["csv_" + $0.replacingOccurrences(of: "-", with: "_")]!] }
        return v
    }

    var scopeText: String {
        var parts: [String] = []
        switch scope.kind {
        case .supervisor, .admin: parts.append(directory.name ?? t["whole_directory"]!)
        case .member: parts.append(wording.names.person(scope.code ?? ""))
        case .agency: parts.append(wording.names.agency(scope.code ?? ""))
        case .unit: parts.append(wording.names.unit(scope.code ?? ""))
        }
        if let area = slice.area { parts.append(wording.names.area(area)) }
        if let sector = slice.sector { parts.append(wording.names.sector(sector, locale: locale)) }
        return parts.joined(separator: " · ")
    }

    /// The grid's areas, each with its units' cells, in the directory's order.
    var grid: [GridArea] {
        let standing = Dictionary(data.now.units.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        let units = gridUnits
        let byArea = Dictionary(grouping: units, by: { $0.area })
        let openWord = t["open_lower"]!, overdueWord = t["overdue_lower"]!
        return directory.areas.compactMap { area -> GridArea? in
            guard let members = byArea[area.code], !members.isEmpty else { return nil }
            var open = 0, overdue = 0
            let cells = members.map { unit -> GridCell in
                let s = standing[unit.code]
                let o = s?.open ?? 0, late = s?.overdue ?? 0
                open += o
                overdue += late
                let state = late > 0 ? "late" : o > 0 ? "open" : "clear"
                let title = "\(unit.name): \(o) \(openWord), \(late) \(overdueWord)"
                return GridCell(name: unit.name, state: state, open: o, overdue: late, count: late > 0 ? "\(o) · \(late)!" : "\(o)", title: title,
                                href: late > 0 ? list([("unit", unit.code), ("overdue", "1")]) : list([("unit", unit.code)]))
            }
            return GridArea(name: area.name, member: wording.names.person(area.member), open: open, overdue: overdue,
                            href: list([("area", area.code)]), cells: cells)
        }
    }

    /// The grid as HTML (``HTMLFragment``: a national grid has thousands of cells): per area its
    /// heading and its cells, each a link to the unit's open (or overdue) issues; a compact cell
    /// (more than 300 units) shows only its counts, its unit's name in its title.
    func gridHTML(_ areas: [GridArea], compact: Bool) -> HTMLFragment {
        var f = HTMLFragment(capacity: areas.reduce(0) { $0 + 200 + $1.cells.count * (compact ? 150 : 200) })
        let member = t["member_in_charge"]!, openWord = t["open_lower"]!, overdueWord = t["overdue_lower"]!
        for area in areas {
            f.markup("<div class=\"area\">\n  <h3><a href=\"")
            f.text(area.href)
            f.markup("\">")
            f.text(area.name)
            f.markup("</a> <span class=\"muted\">· ")
            f.text(member)
            f.markup(": ")
            f.text(area.member)
            f.markup(" · ")
            f.number(area.open)
            f.markup(" ")
            f.text(openWord)
            f.markup(", ")
            f.number(area.overdue)
            f.markup(" ")
            f.text(overdueWord)
            f.markup("</span></h3>\n  ")
            f.markup(compact ? "<div class=\"cells compact\">" : "<div class=\"cells\">")
            for cell in area.cells {
                f.markup("<a class=\"cell ")
                f.text(cell.state)
                f.markup("\" href=\"")
                f.text(cell.href)
                f.markup("\" title=\"")
                f.text(cell.title)
                f.markup("\">")
                if compact {
                    f.text(cell.count)
                } else {
                    f.markup("<span class=\"cell-name\">")
                    f.text(cell.name)
                    f.markup("</span><span class=\"cell-count\">")
                    f.text(cell.count)
                    f.markup("</span>")
                }
                f.markup("</a>")
            }
            f.markup("</div>\n</div>\n")
        }
        return f
    }

    // MARK: Charts

    static let chartWidth = 720.0, chartHeight = 260.0
    static let left = 48.0, right = 12.0, top = 16.0, bottom = 44.0

    /// A round top for a y axis and its ticks.
    static func axis(_ maximum: Int) -> (top: Int, ticks: [Int]) {
        guard maximum > 0 else { return (1, [0, 1]) }
        let raw = Double(maximum) / 4
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        let stepInt = max(1, Int(step))
        let topValue = Int((Double(maximum) / Double(stepInt)).rounded(.up)) * stepInt
        return (topValue, Array(stride(from: 0, through: topValue, by: stepInt)))
    }

    func frame(title: String, id: String, maximum: Int, labels: [String], legend: [(String, String)]) -> [String: Any] {
        let (topValue, ticks) = Self.axis(maximum)
        let plotHeight = Self.chartHeight - Self.top - Self.bottom
        let plotWidth = Self.chartWidth - Self.left - Self.right
        let slot = labels.isEmpty ? plotWidth : plotWidth / Double(labels.count)
        let every = max(1, Int((Double(labels.count) / 10).rounded(.up)))
        return [
            "id": id, "title": title, "w": Int(Self.chartWidth), "h": Int(Self.chartHeight),
            "x0": Int(Self.left), "x1": Int(Self.chartWidth - Self.right), "y0": Int(Self.chartHeight - Self.bottom),
            "yticks": ticks.map { tick -> [String: Any] in
                let y = Self.top + plotHeight * (1 - Double(tick) / Double(topValue))
                return ["y": Self.f(y), "ty": Self.f(y + 4), "label": "\(tick)"]
            },
            "xlabels": labels.enumerated().compactMap { index, label -> [String: Any]? in
                guard index % every == 0 else { return nil }
                return ["x": Self.f(Self.left + slot * (Double(index) + 0.5)), "y": Int(Self.chartHeight - Self.bottom + 16), "label": label]
            },
            "legend": legend.enumerated().map { index, entry -> [String: Any] in
                let x = Self.left + Double(index) * 170
                return ["x": Self.f(x), "tx": Self.f(x + 16), "y": Int(Self.chartHeight - 14), "ty": Int(Self.chartHeight - 4), "cls": entry.0, "label": entry.1]
            },
            "slot": slot, "top_value": topValue,
        ]
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    func y(_ value: Int, top topValue: Int) -> Double {
        let plotHeight = Self.chartHeight - Self.top - Self.bottom
        return Self.top + plotHeight * (1 - Double(value) / Double(max(1, topValue)))
    }

    var stepLabels: [String] {
        data.series.map { point in
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = directory.timeZone
            let c = calendar.dateComponents([.day, .month], from: point.start)
            return String(format: "%02d/%02d", c.day!, c.month!)
        }
    }

    var flowChart: [String: Any] {
        let labels = stepLabels
        let maximum = data.series.map { max($0.received, $0.resolved) }.max() ?? 0
        var chart = frame(title: period.daily ? t["chart_flow_daily"]! : t["chart_flow_weekly"]!, id: "flow", maximum: maximum, labels: labels,
                          legend: [("received", t["received_count"]!), ("resolved", t["resolved_count"]!)])
        let slot = chart["slot"] as! Double, topValue = chart["top_value"] as! Int
        let width = max(1, slot * 0.38)
        var bars: [[String: Any]] = []
        for (index, point) in data.series.enumerated() {
            let x = Self.left + slot * Double(index) + slot * 0.1
            for (offset, (value, cls)) in [(point.received, "received"), (point.resolved, "resolved")].enumerated() {
                let top = y(value, top: topValue)
                bars.append(["x": Self.f(x + Double(offset) * width), "y": Self.f(top), "w": Self.f(width),
                             "h": Self.f(Self.chartHeight - Self.bottom - top), "cls": cls, "tip": "\(labels[index]): \(value)"])
            }
        }
        chart["bars"] = bars
        chart["head"] = [t["col_step"]!, t["received_count"]!, t["resolved_count"]!]
        chart["rows"] = data.series.enumerated().map { index, point in ["cells": [labels[index], "\(point.received)", "\(point.resolved)"]] }
        return chart
    }

    var overdueChart: [String: Any] {
        let labels = stepLabels
        let maximum = data.series.compactMap(\.overdueAtEnd).max() ?? 0
        var chart = frame(title: t["chart_overdue"]!, id: "overdue", maximum: maximum, labels: labels, legend: [("late", t["overdue_now"]!)])
        let slot = chart["slot"] as! Double, topValue = chart["top_value"] as! Int
        let points = data.series.enumerated().compactMap { index, point -> (Double, Double, Int)? in
            point.overdueAtEnd.map { (Self.left + slot * (Double(index) + 0.5), y($0, top: topValue), $0) }
        }
        chart["line"] = points.map { "\(Self.f($0.0)),\(Self.f($0.1))" }.joined(separator: " ")
        chart["dots"] = points.enumerated().map { index, p in ["x": Self.f(p.0), "y": Self.f(p.1), "tip": "\(labels[index]): \(p.2)"] }
        chart["head"] = [t["col_step_end"]!, t["overdue_now"]!]
        chart["rows"] = data.series.enumerated().map { index, point in ["cells": [labels[index], point.overdueAtEnd.map { "\($0)" } ?? "–"]] }
        return chart
    }

    var resolveLabels: [String] {
        let hours = WebApp.resolveEdges.map { $0 / 3600 }
        let h = t["working_hours_short"]!
        var labels = ["< \(hours[0]) \(h)"]
        for i in 1..<hours.count { labels.append("\(hours[i - 1])–\(hours[i]) \(h)") }
        labels.append("≥ \(hours.last!) \(h)")
        return labels
    }

    var resolveChart: [String: Any] {
        let labels = resolveLabels
        var chart = frame(title: t["chart_resolve_times"]!, id: "resolve-times", maximum: data.resolveTimes.max() ?? 0, labels: labels,
                          legend: [("resolved", t["resolved_count"]!)])
        let slot = chart["slot"] as! Double, topValue = chart["top_value"] as! Int
        chart["bars"] = data.resolveTimes.enumerated().map { index, value -> [String: Any] in
            let top = y(value, top: topValue)
            return ["x": Self.f(Self.left + slot * Double(index) + slot * 0.15), "y": Self.f(top), "w": Self.f(slot * 0.7),
                    "h": Self.f(Self.chartHeight - Self.bottom - top), "cls": "resolved", "tip": "\(labels[index]): \(value)"]
        }
        chart["head"] = [t["col_resolve_time"]!, t["resolved_count"]!]
        chart["rows"] = data.resolveTimes.enumerated().map { index, value in ["cells": [labels[index], "\(value)"]] }
        return chart
    }

    // MARK: CSV

    func csv(_ table: String) -> [[String]] {
        func dimension(_ rows: [[String: Any]], first: String) -> [[String]] {
            let head = [first, t["col_code"]!, t["open_now"]!, t["overdue_now"]!, t["received_count"]!, t["ack_on_time"]!, t["resolved_on_time"]!,
                        t["ack_median"]!, t["ack_p90"]!, t["resolve_median"]!, t["resolve_p90"]!]
            return [head] + rows.map { r in
                [r["name"], r["code"], r["open"], r["overdue"], r["received"], r["ack_pct"], r["resolved_pct"], r["ack_median"], r["ack_p90"],
                 r["resolve_median"], r["resolve_p90"]].map { "\($0 ?? "")" }
            }
        }
        switch table {
        case "agencies":
            return dimension(values()["agencies"] as? [[String: Any]] ?? [], first: t["agency"]!)
        case "sectors":
            return dimension(values()["sectors_table"] as? [[String: Any]] ?? [], first: t["sector"]!)
        case "areas", "units":
            let grid = self.grid
            if table == "areas" {
                return [[t["area"]!, t["member"]!, t["open_now"]!, t["overdue_now"]!]] + grid.map { [$0.name, $0.member, "\($0.open)", "\($0.overdue)"] }
            }
            return [[t["area"]!, t["unit"]!, t["open_now"]!, t["overdue_now"]!]] + grid.flatMap { area in
                area.cells.map { [area.name, $0.name, "\($0.open)", "\($0.overdue)"] }
            }
        case "overdue":
            let now = Date()
            return [[t["col_id"]!, t["title"]!, t["unit"]!, t["sector"]!, t["agency"]!, t["col_due"]!, t["col_time"]!]] + data.longest.map {
                ["\($0.id)", $0.title, wording.names.unit($0.unit), wording.names.sector($0.sector, locale: locale), $0.agency.map(wording.names.agency) ?? "",
                 wording.dateTime($0.dueAt), wording.overdue(seconds: Int(now.timeIntervalSince($0.dueAt)))]
            }
        case "series":
            let labels = stepLabels
            return [[t["col_step"]!, t["received_count"]!, t["resolved_count"]!, t["overdue_now"]!]] + data.series.enumerated().map { index, point in
                [labels[index], "\(point.received)", "\(point.resolved)", point.overdueAtEnd.map { "\($0)" } ?? ""]
            }
        default:
            let labels = resolveLabels
            return [[t["col_resolve_time"]!, t["resolved_count"]!]] + data.resolveTimes.enumerated().map { [labels[$0.offset], "\($0.element)"] }
        }
    }
}

/// One area of the grid: its heading's values and its units' cells.
struct GridArea {
    var name: String
    var member: String
    var open: Int
    var overdue: Int
    var href: String
    var cells: [GridCell]
}

/// One unit's cell of the grid.
struct GridCell {
    var name: String
    var state: String
    var open: Int
    var overdue: Int
    /// "12", or "12 · 3!" when some are overdue.
    var count: String
    var title: String
    var href: String
}
