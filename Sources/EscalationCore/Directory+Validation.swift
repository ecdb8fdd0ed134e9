/// One problem found in a directory, located by entry and field.
public struct DirectoryProblem: Sendable, Equatable, CustomStringConvertible {
    /// The entry, such as `units[3] (LC-004)`.
    public var entry: String
    /// The field within the entry, such as `area`.
    public var field: String
    public var message: String

    public init(entry: String, field: String, message: String) {
        self.entry = entry
        self.field = field
        self.message = message
    }

    public var description: String { "\(entry): \(field): \(message)" }
}

/// A directory that failed validation; nothing was written.
public struct DirectoryValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [DirectoryProblem]

    public init(problems: [DirectoryProblem]) {
        self.problems = problems
    }

    public var description: String {
        "the directory has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
            + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// Rules shared by every identifier in the directory and in reports.
public enum Code {
    /// The longest code accepted, in characters.
    public static let maximumLength = 64

    /// True for 1 to 64 ASCII letters, digits, `-`, `_` or `.`, starting with a letter or digit.
    public static func isValid(_ code: String) -> Bool {
        let scalars = code.unicodeScalars
        guard let first = scalars.first, scalars.count <= maximumLength else { return false }
        func isAlnum(_ s: Unicode.Scalar) -> Bool {
            (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") || (s >= "0" && s <= "9")
        }
        guard isAlnum(first) else { return false }
        return scalars.allSatisfy { isAlnum($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }
}

extension Directory {
    /// The longest name accepted for any directory entry, in characters.
    public static let maximumNameLength = 200

    /// Checks the whole directory and returns every problem found, in file order.
    ///
    /// Codes must be valid and unique within their kind; every reference (a unit's area, an area's
    /// member, a sector's agency, a rule's match and targets) must name an existing entry; names
    /// must be non-empty; deadlines must be positive with acknowledgement no later than resolution.
    public func problems() -> [DirectoryProblem] {
        var problems: [DirectoryProblem] = []
        func report(_ entry: String, _ field: String, _ message: String) {
            problems.append(DirectoryProblem(entry: entry, field: field, message: message))
        }
        func entry(_ kind: String, _ index: Int, _ code: String) -> String {
            code.isEmpty ? "\(kind)[\(index)]" : "\(kind)[\(index)] (\(code))"
        }
        func checkCodes(_ kind: String, _ codes: [String]) -> Set<String> {
            var seen = Set<String>()
            for (index, code) in codes.enumerated() {
                if !Code.isValid(code) {
                    report(entry(kind, index, code), "code", "must be 1 to \(Code.maximumLength) letters, digits, '-', '_' or '.', starting with a letter or digit")
                } else if !seen.insert(code).inserted {
                    report(entry(kind, index, code), "code", "duplicates an earlier \(kind) entry")
                }
            }
            return seen
        }
        func checkName(_ entryName: String, _ field: String, _ name: String) {
            if name.allSatisfy(\.isWhitespace) {
                report(entryName, field, "must not be empty")
            } else if name.count > Self.maximumNameLength {
                report(entryName, field, "is longer than \(Self.maximumNameLength) characters")
            } else if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                report(entryName, field, "must not contain control characters")
            }
        }
        if let name { checkName("top level", "name", name) }
        func checkEmail(_ entryName: String, _ field: String, _ email: String) {
            if !EmailAddress.isValid(email) { report(entryName, field, "'\(email)' is not an email address") }
        }

        let personCodes = checkCodes("people", people.map(\.code))
        for (i, person) in people.enumerated() {
            let e = entry("people", i, person.code)
            checkName(e, "name", person.name)
            if let email = person.email { checkEmail(e, "email", email) }
        }

        let areaCodes = checkCodes("areas", areas.map(\.code))
        for (i, area) in areas.enumerated() {
            let e = entry("areas", i, area.code)
            checkName(e, "name", area.name)
            if !personCodes.contains(area.member) {
                report(e, "member", "unknown person '\(area.member)'")
            }
        }

        let unitCodes = checkCodes("units", units.map(\.code))
        for (i, unit) in units.enumerated() {
            let e = entry("units", i, unit.code)
            checkName(e, "name", unit.name)
            if !areaCodes.contains(unit.area) {
                report(e, "area", "unknown area '\(unit.area)'")
            }
        }

        let agencyCodes = checkCodes("agencies", agencies.map(\.code))
        for (i, agency) in agencies.enumerated() {
            let e = entry("agencies", i, agency.code)
            checkName(e, "name", agency.name)
            for email in agency.emails { checkEmail(e, "emails", email) }
            if let webhook = agency.webhook, !(webhook.hasPrefix("https://") || webhook.hasPrefix("http://")) || webhook.count > 2000 {
                report(e, "webhook", "must be an http:// or https:// URL")
            }
        }

        let sectorCodes = checkCodes("sectors", sectors.map(\.code))
        // A sector's calendar and chain are checked below, once those codes are known.
        for (i, sector) in sectors.enumerated() {
            let e = entry("sectors", i, sector.code)
            checkName(e, "name.vi", sector.nameVi)
            checkName(e, "name.en", sector.nameEn)
            if !agencyCodes.contains(sector.agency) {
                report(e, "agency", "unknown agency '\(sector.agency)'")
            }
            for (severity, deadlines) in [("normal", sector.normal), ("urgent", sector.urgent)] {
                guard let deadlines else { continue }
                if deadlines.acknowledgeSeconds <= 0 {
                    report(e, "deadlines.\(severity).acknowledge", "must be longer than zero")
                }
                if deadlines.resolveSeconds <= 0 {
                    report(e, "deadlines.\(severity).resolve", "must be longer than zero")
                }
                if deadlines.acknowledgeSeconds > deadlines.resolveSeconds {
                    report(e, "deadlines.\(severity)", "acknowledge must not be later than resolve")
                }
            }
        }

        _ = checkCodes("routing", rules.map(\.id))
        for (i, rule) in rules.enumerated() {
            let e = entry("routing", i, rule.id)
            if let sector = rule.match.sector, !sectorCodes.contains(sector) {
                report(e, "match.sector", "unknown sector '\(sector)'")
            }
            if let unit = rule.match.unit, !unitCodes.contains(unit) {
                report(e, "match.unit", "unknown unit '\(unit)'")
            }
            if let area = rule.match.area, !areaCodes.contains(area) {
                report(e, "match.area", "unknown area '\(area)'")
            }
            if let agency = rule.agency, !agencyCodes.contains(agency) {
                report(e, "agency", "unknown agency '\(agency)'")
            }
            if let member = rule.member, !personCodes.contains(member) {
                report(e, "member", "unknown person '\(member)'")
            }
            var seenNotify = Set<String>()
            for person in rule.notify {
                if !personCodes.contains(person) {
                    report(e, "notify", "unknown person '\(person)'")
                } else if !seenNotify.insert(person).inserted {
                    report(e, "notify", "names '\(person)' twice")
                }
            }
            if rule.agency == nil && rule.member == nil && rule.notify.isEmpty {
                report(e, "agency", "a rule must name an agency, a member or people to notify")
            }
        }

        let calendarCodes = checkCodes("calendars", calendars.map(\.code))
        for (i, definition) in calendars.enumerated() {
            let e = entry("calendars", i, definition.code)
            do {
                _ = try definition.compile()
            } catch {
                switch error {
                case .unknownTimeZone: report(e, "time_zone", error.description)
                case .overlappingHours(let weekday):
                    report(e, weekday == 0 ? "extra_days" : "hours.\(WorkingCalendar.weekdayNames[weekday - 1])", "hours overlap or are out of order")
                case .noWorkingTime: report(e, "hours", error.description)
                }
            }
            if Set(definition.holidays).count != definition.holidays.count {
                report(e, "holidays", "lists a date twice")
            }
            for date in definition.extraDays.keys.sorted() where definition.holidays.contains(date) {
                report(e, "extra_days", "\(date) is also a holiday")
            }
        }

        let groupCodes = checkCodes("groups", groups.map(\.code))
        for (i, group) in groups.enumerated() {
            let e = entry("groups", i, group.code)
            checkName(e, "name", group.name)
            for person in group.members where !personCodes.contains(person) {
                report(e, "members", "unknown person '\(person)'")
            }
            for inner in group.includes where !groupCodes.contains(inner) {
                report(e, "includes", "unknown group '\(inner)'")
            }
            if group.members.isEmpty && group.includes.isEmpty {
                report(e, "members", "a group needs at least one member")
            }
            if let minute = group.digestMinute, !(0..<(24 * 60)).contains(minute) {
                report(e, "digest_at", "must be a time of day such as 07:30")
            }
            if group.digestMinute != nil && defaults.calendar == nil {
                report(e, "digest_at", "digests go out at local time: name defaults.calendar, whose time zone they follow")
            }
            if let minute = group.reportMinute, !(0..<(24 * 60)).contains(minute) {
                report(e, "report_at", "must be a time of day such as 08:00")
            }
            if group.reportMinute != nil && group.report == nil {
                report(e, "report_at", "says when the periodic report goes out: give report: weekly or monthly too")
            }
            if group.report != nil && defaults.calendar == nil {
                report(e, "report", "reports go out at local time and cover local weeks or months: name defaults.calendar, whose time zone they follow")
            }
        }
        // A group that includes itself, directly or through others, is a cycle.
        let includes = Dictionary(groups.map { ($0.code, $0.includes) }, uniquingKeysWith: { a, _ in a })
        for (i, group) in groups.enumerated() {
            var stack = group.includes, visited = Set<String>()
            while let next = stack.popLast() {
                if next == group.code {
                    report(entry("groups", i, group.code), "includes", "includes itself through a cycle of groups")
                    break
                }
                if visited.insert(next).inserted { stack.append(contentsOf: includes[next] ?? []) }
            }
        }

        let chainCodes = checkCodes("chains", chains.map(\.code))
        for (i, chain) in chains.enumerated() {
            let e = entry("chains", i, chain.code)
            checkName(e, "name", chain.name)
            if chain.levels.isEmpty { report(e, "levels", "a chain needs at least one level") }
            for (l, level) in chain.levels.enumerated() {
                let field = "levels[\(l)]"
                if level.notify.isEmpty { report(e, "\(field).notify", "a level must notify someone") }
                if level.afterSeconds < 0 { report(e, "\(field).after", "must not be negative") }
                if l > 0 && level.afterSeconds == 0 { report(e, "\(field).after", "must be longer than zero after the first level") }
                if Set(level.notify).count != level.notify.count { report(e, "\(field).notify", "names a recipient twice") }
                for recipient in level.notify {
                    switch recipient {
                    case .group(let g) where !groupCodes.contains(g): report(e, "\(field).notify", "unknown group '\(g)'")
                    case .person(let p) where !personCodes.contains(p): report(e, "\(field).notify", "unknown person '\(p)'")
                    default: break
                    }
                }
                if level.repeatTimes < 0 || level.repeatTimes > 100 {
                    report(e, "\(field).repeat.times", "must be between 0 and 100")
                }
                if level.repeatTimes > 0 && (level.repeatEverySeconds ?? 0) <= 0 {
                    report(e, "\(field).repeat.every", "reminders need a duration between them")
                }
            }
        }

        if let code = defaults.calendar, !calendarCodes.contains(code) {
            report("defaults", "calendar", "unknown calendar '\(code)'")
        }
        if let code = defaults.chain, !chainCodes.contains(code) {
            report("defaults", "chain", "unknown chain '\(code)'")
        }
        for (i, sector) in sectors.enumerated() {
            let e = entry("sectors", i, sector.code)
            if let code = sector.calendar, !calendarCodes.contains(code) { report(e, "calendar", "unknown calendar '\(code)'") }
            if let code = sector.chain, !chainCodes.contains(code) { report(e, "chain", "unknown chain '\(code)'") }
            if sector.normal != nil && sector.calendar == nil && defaults.calendar == nil {
                report(e, "calendar", "normal deadlines count working time: name a calendar here or in defaults.calendar")
            }
        }
        return problems
    }

    /// Throws ``DirectoryValidationError`` listing every problem, or returns when there is none.
    public func validate() throws(DirectoryValidationError) {
        let problems = problems()
        if !problems.isEmpty { throw DirectoryValidationError(problems: problems) }
    }
}
