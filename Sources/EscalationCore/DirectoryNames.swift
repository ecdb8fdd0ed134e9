import Foundation

/// The names people read in place of directory codes: units, agencies, people, areas, sectors
/// and supervisor groups, looked up by code.
///
/// Built once from a ``Directory`` (linear in its size) and shared; every lookup is a dictionary
/// read. A code the directory does not know (an entry removed since, or a value written by
/// another system) reads as the code itself, so a history stays readable after the directory
/// changes. Names are kept in NFC, whatever the directory was given.
public struct DirectoryNames: Sendable {
    private var units: [String: String] = [:]
    private var agencies: [String: String] = [:]
    private var people: [String: String] = [:]
    private var areas: [String: String] = [:]
    private var groups: [String: String] = [:]
    private var sectors: [String: (vi: String, en: String)] = [:]

    /// No names at all: every lookup falls back to the code.
    public init() {}

    /// The names of `directory`'s entries (the first entry of a code wins, as in routing).
    public init(directory: Directory) {
        func table<T>(_ items: [T], _ code: (T) -> String, _ name: (T) -> String) -> [String: String] {
            Dictionary(items.map { (code($0), name($0).precomposedStringWithCanonicalMapping) }, uniquingKeysWith: { first, _ in first })
        }
        units = table(directory.units, \.code, \.name)
        agencies = table(directory.agencies, \.code, \.name)
        people = table(directory.people, \.code, \.name)
        areas = table(directory.areas, \.code, \.name)
        groups = table(directory.groups, \.code, \.name)
        sectors = Dictionary(directory.sectors.map {
            ($0.code, (vi: $0.nameVi.precomposedStringWithCanonicalMapping, en: $0.nameEn.precomposedStringWithCanonicalMapping))
        }, uniquingKeysWith: { first, _ in first })
    }

    /// The commune's or ward's name (`Xã Sa Pa`), or the code.
    public func unit(_ code: String) -> String { units[code] ?? code }

    /// The agency's name (`Sở Y tế`), or the code.
    public func agency(_ code: String) -> String { agencies[code] ?? code }

    /// The person's name, or the code.
    public func person(_ code: String) -> String { people[code] ?? code }

    /// The area's name, or the code.
    public func area(_ code: String) -> String { areas[code] ?? code }

    /// The supervisor group's name, or the code.
    public func group(_ code: String) -> String { groups[code] ?? code }

    /// The sector's name in `locale` (`Đất đai`, `Land`), or the code.
    public func sector(_ code: String, locale: PersonLocale) -> String {
        guard let names = sectors[code] else { return code }
        return locale == .vi ? names.vi : names.en
    }

    /// The name of an assignment's or a notification's target: an agency or a person.
    public func target(kind: TargetKind, code: String) -> String {
        kind == .agency ? agency(code) : person(code)
    }

    /// The name behind an event's `actor`: the agency, unit or person a scope names
    /// (`agency:so-y-te` → `Sở Y tế`, `member:m-north` → the member's name), the operator
    /// (`admin`, `admin:ops`), the daemon's own loops (`router`, `escalator`) and the intake
    /// paths (`api`, `cli`, `sql`, `web`) in `locale`; anything else as it is written.
    public func actor(_ scope: String, locale: PersonLocale = .vi) -> String {
        let vi = locale == .vi
        switch scope {
        case "router", "escalator": return vi ? "Hệ thống" : "The system"
        case "api": return "API"
        case "cli": return vi ? "Dòng lệnh" : "The command line"
        case "sql": return vi ? "Cơ sở dữ liệu" : "The database"
        case "web": return vi ? "Trang web" : "The web page"
        default: break
        }
        let parts = scope.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let kind = ActorKind(rawValue: parts[0]) else { return scope.precomposedStringWithCanonicalMapping }
        let code = parts.count == 2 ? parts[1] : nil
        switch (kind, code) {
        case (.admin, _): return vi ? "Quản trị hệ thống" : "The administrator"
        case (.unit, let code?): return unit(code)
        case (.agency, let code?): return agency(code)
        case (.member, let code?), (.supervisor, let code?): return person(code)
        case (_, nil): return scope
        }
    }
}
