public import EscalationCore
import Yams

/// Reads and writes the directory as YAML.
///
/// Reading checks the shape (known keys only, right types) and then the meaning
/// (``Directory/problems()``) and reports every problem as `FILE:LINE: entry: field: message`.
/// Writing produces a file that reads back to an equal directory.
public enum DirectoryFile {
    /// A directory file that cannot be imported; nothing was written.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var file: String
        public var problems: [String]

        public var description: String {
            "\(file) has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
                + problems.map { "  \($0)" }.joined(separator: "\n")
        }
    }

    /// Parses and validates a directory; `file` names the source in error messages.
    public static func parse(_ text: String, file: String) throws(ParseError) -> Directory {
        let reader = Reader(file: file)
        let directory = reader.read(text)
        var problems = reader.problems
        if problems.isEmpty, let directory {
            problems = directory.problems().map { problem in
                let line = reader.lines[problem.entry.split(separator: " ").first.map(String.init) ?? ""]
                return "\(file):\(line.map(String.init) ?? "?"): \(problem)"
            }
            if problems.isEmpty { return directory }
        }
        throw ParseError(file: file, problems: problems)
    }

    /// Writes a directory as YAML, in a stable order, every string quoted.
    public static func render(_ directory: Directory, header: String? = nil) -> String {
        var out = ""
        if let header {
            for line in header.split(separator: "\n", omittingEmptySubsequences: false) { out += "# \(line)\n" }
        }
        func q(_ s: String) -> String { quote(s) }
        out += "people:\n"
        for p in directory.people {
            out += "  - code: \(q(p.code))\n    name: \(q(p.name))\n"
            if let email = p.email { out += "    email: \(q(email))\n" }
            out += "    locale: \(p.locale.rawValue)\n"
            if let role = p.role { out += "    role: \(q(role))\n" }
        }
        out += "areas:\n"
        for a in directory.areas {
            out += "  - code: \(q(a.code))\n    name: \(q(a.name))\n    member: \(q(a.member))\n"
        }
        out += "units:\n"
        for u in directory.units {
            out += "  - code: \(q(u.code))\n    name: \(q(u.name))\n    kind: \(u.kind.rawValue)\n    area: \(q(u.area))\n"
        }
        out += "agencies:\n"
        for a in directory.agencies {
            out += "  - code: \(q(a.code))\n    name: \(q(a.name))\n"
            out += "    emails: [\(a.emails.map(q).joined(separator: ", "))]\n"
            if let webhook = a.webhook { out += "    webhook: \(q(webhook))\n" }
        }
        out += "sectors:\n"
        for s in directory.sectors {
            out += "  - code: \(q(s.code))\n    name: {vi: \(q(s.nameVi)), en: \(q(s.nameEn))}\n    agency: \(q(s.agency))\n"
            if s.normal != nil || s.urgent != nil {
                out += "    deadlines:\n"
                for (label, d) in [("normal", s.normal), ("urgent", s.urgent)] {
                    guard let d else { continue }
                    out += "      \(label): {acknowledge: \(DurationText.format(seconds: d.acknowledgeSeconds)), resolve: \(DurationText.format(seconds: d.resolveSeconds))}\n"
                }
            }
            if let c = s.calendar { out += "    calendar: \(q(c))\n" }
            if let c = s.chain { out += "    chain: \(q(c))\n" }
        }
        out += directory.rules.isEmpty ? "routing: []\n" : "routing:\n"
        for r in directory.rules {
            out += "  - id: \(q(r.id))\n    priority: \(r.priority)\n"
            var match: [String] = []
            if let v = r.match.sector { match.append("sector: \(q(v))") }
            if let v = r.match.unit { match.append("unit: \(q(v))") }
            if let v = r.match.area { match.append("area: \(q(v))") }
            if let v = r.match.severity { match.append("severity: \(v.rawValue)") }
            out += "    match: {\(match.joined(separator: ", "))}\n"
            if let v = r.agency { out += "    agency: \(q(v))\n" }
            if let v = r.member { out += "    member: \(q(v))\n" }
            if !r.notify.isEmpty { out += "    notify: [\(r.notify.map(q).joined(separator: ", "))]\n" }
        }
        func hours(_ h: [WorkingHours]) -> String { "[" + h.map { q($0.description) }.joined(separator: ", ") + "]" }
        if directory.defaults.calendar != nil || directory.defaults.chain != nil {
            out += "defaults:\n"
            if let c = directory.defaults.calendar { out += "  calendar: \(q(c))\n" }
            if let c = directory.defaults.chain { out += "  chain: \(q(c))\n" }
        }
        out += directory.calendars.isEmpty ? "calendars: []\n" : "calendars:\n"
        for c in directory.calendars {
            out += "  - code: \(q(c.code))\n    time_zone: \(q(c.timeZone))\n    hours:\n"
            for weekday in 1...7 {
                guard let h = c.weekly[weekday] else { continue }
                out += "      \(WorkingCalendar.weekdayNames[weekday - 1]): \(hours(h))\n"
            }
            out += "    holidays: [\(c.holidays.map { q($0.description) }.joined(separator: ", "))]\n"
            if !c.extraDays.isEmpty {
                out += "    extra_days:\n"
                for date in c.extraDays.keys.sorted() {
                    out += "      - {date: \(q(date.description)), hours: \(hours(c.extraDays[date]!))}\n"
                }
            }
        }
        out += directory.groups.isEmpty ? "groups: []\n" : "groups:\n"
        for g in directory.groups {
            out += "  - code: \(q(g.code))\n    name: \(q(g.name))\n    members: [\(g.members.map(q).joined(separator: ", "))]\n"
            if !g.includes.isEmpty { out += "    includes: [\(g.includes.map(q).joined(separator: ", "))]\n" }
            if let minute = g.digestMinute { out += "    digest_at: \(q(SupervisorGroup.text(minute: minute)))\n" }
        }
        out += directory.chains.isEmpty ? "chains: []\n" : "chains:\n"
        for c in directory.chains {
            out += "  - code: \(q(c.code))\n    name: \(q(c.name))\n    levels:\n"
            for level in c.levels {
                out += "      - after: \(level.afterSeconds == 0 ? "\"0\"" : DurationText.format(seconds: level.afterSeconds))\n"
                out += "        notify: [\(level.notify.map { q($0.description) }.joined(separator: ", "))]\n"
                if let every = level.repeatEverySeconds, level.repeatTimes > 0 {
                    out += "        repeat: {every: \(DurationText.format(seconds: every)), times: \(level.repeatTimes)}\n"
                }
            }
        }
        return out
    }

    /// A YAML double-quoted scalar (JSON-compatible escapes).
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
                    || scalar.value == 0x2028 || scalar.value == 0x2029 || scalar.value == 0xFEFF {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Walks the YAML tree, collecting shape problems with their line numbers.
private final class Reader {
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
        let fields = self.fields(root, entry: "top level", allowed: ["people", "areas", "units", "agencies", "sectors", "routing", "defaults", "calendars", "groups", "chains"], required: [])
        _ = top
        var directory = Directory()
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
            let f = self.fields(node, entry: e, allowed: ["code", "name", "members", "includes", "digest_at"], required: ["code", "name"])
            var digest: Int?
            if let text = self.string(f["digest_at"], e, "digest_at") {
                digest = SupervisorGroup.minute(text)
                if digest == nil { self.problem(f["digest_at"], e, "digest_at: '\(text)' is not a time of day such as 07:30") }
            }
            return SupervisorGroup(code: self.string(f["code"], e, "code") ?? "", name: self.string(f["name"], e, "name") ?? "",
                                   members: self.strings(f["members"], e, "members"), includes: self.strings(f["includes"], e, "includes"),
                                   digestMinute: digest)
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
