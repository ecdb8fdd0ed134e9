public import EscalationCore

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
        if let name = directory.name { out += "name: \(q(name))\n" }
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
            if let report = g.report { out += "    report: \(report.rawValue)\n" }
            if let minute = g.reportMinute { out += "    report_at: \(q(SupervisorGroup.text(minute: minute)))\n" }
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
    static func quote(_ s: String) -> String { QuotedString.literal(s) }
}
