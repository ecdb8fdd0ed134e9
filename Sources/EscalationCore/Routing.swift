/// What the router knows about an issue when it decides where it goes.
public struct RoutingInput: Sendable, Hashable {
    public var unit: String
    public var sector: String
    public var severity: Severity

    public init(unit: String, sector: String, severity: Severity) {
        self.unit = unit
        self.sector = sector
        self.severity = severity
    }
}

/// The outcome of routing one issue.
public enum RoutingDecision: Sendable, Hashable {
    /// Deliver to these targets, in this order: agency, member, then watchers.
    case routed([Assignment])
    /// No route exists yet; the reason says why, for the event and the operator.
    case unroutable(reason: String)
}

/// A directory compiled for routing: lookups by code and rules in evaluation order.
///
/// Building a table is linear in the directory; routing an issue is a few dictionary lookups
/// plus a scan of the rules. The table is immutable and safe to share.
public struct RoutingTable: Sendable {
    private let unitArea: [String: String]
    private let areaMember: [String: String]
    private let sectorAgency: [String: String]
    private let rules: [RoutingRule]

    public init(directory: Directory) {
        self.unitArea = Dictionary(directory.units.map { ($0.code, $0.area) }, uniquingKeysWith: { first, _ in first })
        self.areaMember = Dictionary(directory.areas.map { ($0.code, $0.member) }, uniquingKeysWith: { first, _ in first })
        self.sectorAgency = Dictionary(directory.sectors.map { ($0.code, $0.agency) }, uniquingKeysWith: { first, _ in first })
        self.rules = directory.rules.sorted { a, b in
            if a.priority != b.priority { return a.priority > b.priority }
            if a.match.specificity != b.match.specificity { return a.match.specificity > b.match.specificity }
            return a.id < b.id
        }
    }

    /// Decides who receives an issue.
    ///
    /// The default route sends it to the agency responsible for its sector and to the member in
    /// charge of its unit's area. Rules, in order, may replace either target and add watchers.
    /// An issue whose unit or sector is not in the directory is unroutable.
    public func route(_ input: RoutingInput) -> RoutingDecision {
        guard let area = unitArea[input.unit] else {
            return .unroutable(reason: "unit '\(input.unit)' is not in the directory")
        }
        guard let defaultAgency = sectorAgency[input.sector] else {
            return .unroutable(reason: "sector '\(input.sector)' is not in the directory")
        }
        var agency = Assignment(targetKind: .agency, targetCode: defaultAgency, role: .agency)
        var member = areaMember[area].map { Assignment(targetKind: .person, targetCode: $0, role: .member) }
        var agencyChosen = false
        var memberChosen = false
        var watchers: [Assignment] = []
        for rule in rules where Self.matches(rule.match, input: input, area: area) {
            if !agencyChosen, let code = rule.agency {
                agency = Assignment(targetKind: .agency, targetCode: code, role: .agency, ruleID: rule.id)
                agencyChosen = true
            }
            if !memberChosen, let code = rule.member {
                member = Assignment(targetKind: .person, targetCode: code, role: .member, ruleID: rule.id)
                memberChosen = true
            }
            for person in rule.notify {
                watchers.append(Assignment(targetKind: .person, targetCode: person, role: .watcher, ruleID: rule.id))
            }
        }
        guard let member else {
            return .unroutable(reason: "area '\(area)' has no member in charge")
        }
        // One assignment per target: a person who is both member and watcher is the member.
        var seen: Set<String> = ["\(agency.targetKind.rawValue):\(agency.targetCode)", "person:\(member.targetCode)"]
        var result = [agency, member]
        for watcher in watchers where seen.insert("person:\(watcher.targetCode)").inserted {
            result.append(watcher)
        }
        return .routed(result)
    }

    static func matches(_ match: RuleMatch, input: RoutingInput, area: String) -> Bool {
        if let sector = match.sector, sector != input.sector { return false }
        if let unit = match.unit, unit != input.unit { return false }
        if let matchArea = match.area, matchArea != area { return false }
        if let severity = match.severity, severity != input.severity { return false }
        return true
    }
}
