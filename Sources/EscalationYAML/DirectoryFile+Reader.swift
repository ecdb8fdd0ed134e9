import EscalationCore
import Yams

/// Walks the YAML tree, collecting shape problems with their line numbers.
final class Reader {
    let file: String
    var problems: [String] = []
    /// Line of each entry, by `kind[index]`, for locating semantic problems.
    var lines: [String: Int] = [:]

    init(file: String) { self.file = file }

    func problem(_ node: Node?, _ entry: String, _ message: String) {
        let line = node?.mark.map { String($0.line) } ?? "?"
        problems.append("\(file):\(line): \(entry): \(message)")
    }

    func read(_ text: String) -> Directory? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            problems.append("\(file): not valid YAML: \(error)")
            return nil
        }
        guard let root, case .mapping(let top) = root else {
            problems.append("\(file):1: the file must be a mapping with the keys people, areas, units, agencies, sectors, routing")
            return nil
        }
        let fields = self.fields(root, entry: "top level", allowed: ["name", "people", "areas", "units", "agencies", "sectors", "routing", "defaults", "calendars", "groups", "chains"], required: [])
        _ = top
        var directory = Directory()
        directory.name = string(fields["name"], "top level", "name")
        directory.people = list(fields["people"], kind: "people") { node, e in
            let f = self.fields(node, entry: e, allowed: ["code", "name", "email", "locale", "role"], required: ["code", "name"])
            let locale = self.enumValue(f["locale"], e, "locale", PersonLocale.self) ?? .vi
            return Person(code: self.string(f["code"], e, "code") ?? "", name: self.string(f["name"], e, "name") ?? "",
                          email: self.string(f["email"], e, "email"), locale: locale, role: self.string(f["role"], e, "role"))
        }
        directory.areas = list(fields["areas"], kind: "areas") { node, e in
            let f = self.fields(node, entry: e, allowed: ["code", "name", "member"], required: ["code", "name", "member"])
            return Area(code: self.string(f["code"], e, "code") ?? "", name: self.string(f["name"], e, "name") ?? "",
                        member: self.string(f["member"], e, "member") ?? "")
        }
        directory.units = list(fields["units"], kind: "units") { node, e in
            let f = self.fields(node, entry: e, allowed: ["code", "name", "kind", "area"], required: ["code", "name", "kind", "area"])
            return Unit(code: self.string(f["code"], e, "code") ?? "", name: self.string(f["name"], e, "name") ?? "",
                        kind: self.enumValue(f["kind"], e, "kind", UnitKind.self) ?? .commune,
                        area: self.string(f["area"], e, "area") ?? "")
        }
        directory.agencies = list(fields["agencies"], kind: "agencies") { node, e in
            let f = self.fields(node, entry: e, allowed: ["code", "name", "emails", "webhook"], required: ["code", "name"])
            return Agency(code: self.string(f["code"], e, "code") ?? "", name: self.string(f["name"], e, "name") ?? "",
                          emails: self.strings(f["emails"], e, "emails"), webhook: self.string(f["webhook"], e, "webhook"))
        }
        directory.sectors = list(fields["sectors"], kind: "sectors") { node, e in
            let f = self.fields(node, entry: e, allowed: ["code", "name", "agency", "deadlines", "calendar", "chain"], required: ["code", "name", "agency"])
            var nameVi = "", nameEn = ""
            if let nameNode = f["name"] {
                let names = self.fields(nameNode, entry: e + ": name", allowed: ["vi", "en"], required: ["vi", "en"])
                nameVi = self.string(names["vi"], e, "name.vi") ?? ""
                nameEn = self.string(names["en"], e, "name.en") ?? ""
            }
            var normal: Deadlines?, urgent: Deadlines?
            if let d = f["deadlines"] {
                let bySeverity = self.fields(d, entry: e + ": deadlines", allowed: ["normal", "urgent"], required: [])
                normal = bySeverity["normal"].flatMap { self.deadlines($0, e, "deadlines.normal") }
                urgent = bySeverity["urgent"].flatMap { self.deadlines($0, e, "deadlines.urgent") }
            }
            return Sector(code: self.string(f["code"], e, "code") ?? "", nameVi: nameVi, nameEn: nameEn,
                          agency: self.string(f["agency"], e, "agency") ?? "", normal: normal, urgent: urgent,
                          calendar: self.string(f["calendar"], e, "calendar"), chain: self.string(f["chain"], e, "chain"))
        }
        directory.rules = list(fields["routing"], kind: "routing") { node, e in
            let f = self.fields(node, entry: e, allowed: ["id", "priority", "match", "agency", "member", "notify"], required: ["id"])
            var match = RuleMatch()
            if let m = f["match"] {
                let mf = self.fields(m, entry: e + ": match", allowed: ["sector", "unit", "area", "severity"], required: [])
                match = RuleMatch(sector: self.string(mf["sector"], e, "match.sector"), unit: self.string(mf["unit"], e, "match.unit"),
                                  area: self.string(mf["area"], e, "match.area"),
                                  severity: self.enumValue(mf["severity"], e, "match.severity", Severity.self))
            }
            var priority = 0
            if let p = f["priority"] {
                if let text = self.string(p, e, "priority"), let value = Int(text), abs(value) <= 1_000_000 {
                    priority = value
                } else {
                    self.problem(p, e, "priority: must be a whole number between -1000000 and 1000000")
                }
            }
            return RoutingRule(id: self.string(f["id"], e, "id") ?? "", priority: priority, match: match,
                               agency: self.string(f["agency"], e, "agency"), member: self.string(f["member"], e, "member"),
                               notify: self.strings(f["notify"], e, "notify"))
        }
        if let node = fields["defaults"] {
            lines["defaults"] = node.mark?.line
            let f = self.fields(node, entry: "defaults", allowed: ["calendar", "chain"], required: [])
            directory.defaults = EscalationDefaults(calendar: string(f["calendar"], "defaults", "calendar"), chain: string(f["chain"], "defaults", "chain"))
        }
        directory.calendars = list(fields["calendars"], kind: "calendars") { node, e in
            let f = self.fields(node, entry: e, allowed: ["code", "time_zone", "hours", "holidays", "extra_days"], required: ["code", "time_zone", "hours"])
            var weekly: [Int: [WorkingHours]] = [:]
            if let h = f["hours"] {
                let days = self.fields(h, entry: e + ": hours", allowed: Set(WorkingCalendar.weekdayNames), required: [])
                for (index, name) in WorkingCalendar.weekdayNames.enumerated() {
                    if let node = days[name] { weekly[index + 1] = self.hours(node, e, "hours.\(name)") }
                }
            }
            var extra: [LocalDate: [WorkingHours]] = [:]
            for item in self.nodes(f["extra_days"], e, "extra_days") {
                let x = self.fields(item, entry: e + ": extra_days", allowed: ["date", "hours"], required: ["date", "hours"])
                guard let date = self.date(x["date"], e, "extra_days.date") else { continue }
                if extra[date] != nil { self.problem(item, e, "extra_days: \(date) is given twice") }
                extra[date] = x["hours"].map { self.hours($0, e, "extra_days.hours") } ?? []
            }
            return CalendarDefinition(code: self.string(f["code"], e, "code") ?? "", timeZone: self.string(f["time_zone"], e, "time_zone") ?? "",
                                      weekly: weekly, holidays: self.nodes(f["holidays"], e, "holidays").compactMap { self.date($0, e, "holidays") },
                                      extraDays: extra)
        }
        directory.groups = list(fields["groups"], kind: "groups") { node, e in
            let f = self.fields(node, entry: e, allowed: ["code", "name", "members", "includes", "digest_at", "report", "report_at"],
                                required: ["code", "name"])
            var digest: Int?
            if let text = self.string(f["digest_at"], e, "digest_at") {
                digest = SupervisorGroup.minute(text)
                if digest == nil { self.problem(f["digest_at"], e, "digest_at: '\(text)' is not a time of day such as 07:30") }
            }
            let report = self.enumValue(f["report"], e, "report", ReportKind.self)
            var reportMinute: Int?
            if let text = self.string(f["report_at"], e, "report_at") {
                reportMinute = SupervisorGroup.minute(text)
                if reportMinute == nil { self.problem(f["report_at"], e, "report_at: '\(text)' is not a time of day such as 08:00") }
            } else if report != nil {
                reportMinute = SupervisorGroup.defaultReportMinute
            }
            return SupervisorGroup(code: self.string(f["code"], e, "code") ?? "", name: self.string(f["name"], e, "name") ?? "",
                                   members: self.strings(f["members"], e, "members"), includes: self.strings(f["includes"], e, "includes"),
                                   digestMinute: digest, report: report, reportMinute: reportMinute)
        }
        directory.chains = list(fields["chains"], kind: "chains") { node, e in
            let f = self.fields(node, entry: e, allowed: ["code", "name", "levels"], required: ["code", "name", "levels"])
            let levels = self.nodes(f["levels"], e, "levels").enumerated().map { index, item in
                let field = "levels[\(index)]"
                let l = self.fields(item, entry: e + ": " + field, allowed: ["after", "notify", "repeat"], required: ["notify"])
                var level = EscalationLevel(notify: [])
                if let after = l["after"] {
                    level.afterSeconds = self.string(after, e, field + ".after") == "0" ? 0 : self.duration(after, e, field + ".after") ?? 0
                }
                for text in self.strings(l["notify"], e, field + ".notify") {
                    if let recipient = Recipient(text) {
                        level.notify.append(recipient)
                    } else {
                        self.problem(l["notify"], e, "\(field).notify: '\(text)' is not agency, member, group:CODE or person:CODE")
                    }
                }
                if let r = l["repeat"] {
                    let rf = self.fields(r, entry: e + ": " + field + ".repeat", allowed: ["every", "times"], required: ["every", "times"])
                    level.repeatEverySeconds = self.duration(rf["every"], e, field + ".repeat.every")
                    if let text = self.string(rf["times"], e, field + ".repeat.times") {
                        if let times = Int(text), (0...100).contains(times) {
                            level.repeatTimes = times
                        } else {
                            self.problem(rf["times"], e, "\(field).repeat.times: must be a whole number from 0 to 100")
                        }
                    }
                }
                return level
            }
            return EscalationChain(code: self.string(f["code"], e, "code") ?? "", name: self.string(f["name"], e, "name") ?? "", levels: levels)
        }
        return directory
    }

    func nodes(_ node: Node?, _ entry: String, _ field: String) -> [Node] {
        guard let node else { return [] }
        guard case .sequence(let items) = node else {
            problem(node, entry, "\(field): must be a list")
            return []
        }
        return Array(items)
    }

    func hours(_ node: Node, _ entry: String, _ field: String) -> [WorkingHours] {
        strings(node, entry, field).compactMap { text in
            guard let h = WorkingHours(text) else {
                problem(node, entry, "\(field): '\(text)' is not a span of hours such as 07:30-11:30")
                return nil
            }
            return h
        }
    }

    func date(_ node: Node?, _ entry: String, _ field: String) -> LocalDate? {
        guard let text = string(node, entry, field) else { return nil }
        guard let date = LocalDate(text) else {
            problem(node, entry, "\(field): '\(text)' is not a date such as 2025-09-02")
            return nil
        }
        return date
    }

    func duration(_ node: Node?, _ entry: String, _ field: String) -> Int? {
        guard let text = string(node, entry, field) else { return nil }
        guard let value = DurationText.seconds(text) else {
            problem(node, entry, "\(field): '\(text)' is not a duration such as 4h, 90m, 1h30m, 2d or 30s")
            return nil
        }
        return value
    }

    func fields(_ node: Node, entry: String, allowed: Set<String>, required: [String]) -> [String: Node] {
        guard case .mapping(let mapping) = node else {
            problem(node, entry, "must be a mapping of \(allowed.sorted().joined(separator: ", "))")
            return [:]
        }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { problem(key, entry, "keys must be plain names"); continue }
            if !allowed.contains(name) {
                problem(key, entry, "\(name): unknown field (expected one of \(allowed.sorted().joined(separator: ", ")))")
            } else if result[name] != nil {
                problem(key, entry, "\(name): given twice")
            } else {
                result[name] = value
            }
        }
        for name in required where result[name] == nil {
            problem(node, entry, "\(name): is required")
        }
        return result
    }

    func list<T>(_ node: Node?, kind: String, _ build: (Node, String) -> T) -> [T] {
        guard let node else { return [] }
        if case .scalar(let s) = node, s.tag == Tag(.null) || s.string.isEmpty { return [] }
        guard case .sequence(let items) = node else {
            problem(node, kind, "must be a list")
            return []
        }
        return items.enumerated().map { index, item in
            var entry = "\(kind)[\(index)]"
            lines[entry] = item.mark?.line
            if case .mapping(let m) = item, let code = (m["code"] ?? m["id"])?.scalar?.string {
                entry += " (\(code))"
            }
            return build(item, entry)
        }
    }

    func string(_ node: Node?, _ entry: String, _ field: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node else {
            problem(node, entry, "\(field): must be a single value")
            return nil
        }
        if scalar.tag == Tag(.null), scalar.style == .plain { return nil }
        return scalar.string
    }

    func strings(_ node: Node?, _ entry: String, _ field: String) -> [String] {
        guard let node else { return [] }
        guard case .sequence(let items) = node else {
            problem(node, entry, "\(field): must be a list")
            return []
        }
        return items.compactMap { string($0, entry, field) }
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ node: Node?, _ entry: String, _ field: String, _ type: E.Type) -> E? where E.RawValue == String {
        guard let text = string(node, entry, field) else { return nil }
        guard let value = E(rawValue: text) else {
            problem(node, entry, "\(field): '\(text)' is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return value
    }

    func deadlines(_ node: Node, _ entry: String, _ field: String) -> Deadlines? {
        let f = fields(node, entry: entry + ": " + field, allowed: ["acknowledge", "resolve"], required: ["acknowledge", "resolve"])
        guard let ack = duration(f["acknowledge"], entry, "\(field).acknowledge"),
              let resolve = duration(f["resolve"], entry, "\(field).resolve") else { return nil }
        return Deadlines(acknowledgeSeconds: ack, resolveSeconds: resolve)
    }
}
