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
        func checkEmail(_ entryName: String, _ field: String, _ email: String) {
            let parts = email.split(separator: "@", omittingEmptySubsequences: false)
            let ok = parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
                && !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control || $0 == "<" || $0 == ">" })
                && email.count <= 254
            if !ok { report(entryName, field, "'\(email)' is not an email address") }
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
        for (i, sector) in sectors.enumerated() {
            let e = entry("sectors", i, sector.code)
            checkName(e, "name.vi", sector.nameVi)
            checkName(e, "name.en", sector.nameEn)
            if !agencyCodes.contains(sector.agency) {
                report(e, "agency", "unknown agency '\(sector.agency)'")
            }
            for (severity, deadlines) in [("normal", sector.normal), ("urgent", sector.urgent)] {
                guard let deadlines else { continue }
                if deadlines.acknowledgeMinutes <= 0 {
                    report(e, "deadlines.\(severity).acknowledge", "must be longer than zero")
                }
                if deadlines.resolveMinutes <= 0 {
                    report(e, "deadlines.\(severity).resolve", "must be longer than zero")
                }
                if deadlines.acknowledgeMinutes > deadlines.resolveMinutes {
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
        return problems
    }

    /// Throws ``DirectoryValidationError`` listing every problem, or returns when there is none.
    public func validate() throws(DirectoryValidationError) {
        let problems = problems()
        if !problems.isEmpty { throw DirectoryValidationError(problems: problems) }
    }
}
