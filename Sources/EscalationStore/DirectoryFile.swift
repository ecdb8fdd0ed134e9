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
                    out += "      \(label): {acknowledge: \(DurationText.format(minutes: d.acknowledgeMinutes)), resolve: \(DurationText.format(minutes: d.resolveMinutes))}\n"
                }
            }
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
        let fields = self.fields(root, entry: "top level", allowed: ["people", "areas", "units", "agencies", "sectors", "routing"], required: [])
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
            let f = self.fields(node, entry: e, allowed: ["code", "name", "agency", "deadlines"], required: ["code", "name", "agency"])
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
                          agency: self.string(f["agency"], e, "agency") ?? "", normal: normal, urgent: urgent)
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
        return directory
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
        func minutes(_ key: String) -> Int? {
            guard let text = string(f[key], entry, "\(field).\(key)") else { return nil }
            guard let value = DurationText.minutes(text) else {
                problem(f[key], entry, "\(field).\(key): '\(text)' is not a duration such as 4h, 90m, 1h30m or 2d")
                return nil
            }
            return value
        }
        guard let ack = minutes("acknowledge"), let resolve = minutes("resolve") else { return nil }
        return Deadlines(acknowledgeMinutes: ack, resolveMinutes: resolve)
    }
}
