import EscalationCore
import Testing

/// A small directory: two areas, three units, two agencies, three sectors.
func sampleDirectory(rules: [RoutingRule] = []) -> Directory {
    Directory(
        people: [
            Person(code: "m-north", name: "Member North"),
            Person(code: "m-south", name: "Member South"),
            Person(code: "office", name: "Office", email: "office@example.org", role: "supervisor"),
            Person(code: "it", name: "IT", locale: .en),
        ],
        areas: [Area(code: "north", name: "North", member: "m-north"), Area(code: "south", name: "South", member: "m-south")],
        units: [
            Unit(code: "N1", name: "North 1", kind: .commune, area: "north"),
            Unit(code: "N2", name: "North 2", kind: .ward, area: "north"),
            Unit(code: "S1", name: "South 1", kind: .commune, area: "south"),
        ],
        agencies: [Agency(code: "land-dept", name: "Land"), Agency(code: "health-dept", name: "Health"), Agency(code: "it-dept", name: "IT")],
        sectors: [
            Sector(code: "land", nameVi: "Đất đai", nameEn: "Land", agency: "land-dept"),
            Sector(code: "health", nameVi: "Y tế", nameEn: "Health", agency: "health-dept"),
            Sector(code: "digital", nameVi: "Số", nameEn: "Digital", agency: "it-dept"),
        ],
        rules: rules
    )
}

@Suite("Routing decisions")
struct RoutingTests {
    @Test("default route: sector's agency, then the member in charge of the unit's area")
    func defaultRoute() {
        let table = RoutingTable(directory: sampleDirectory())
        #expect(table.route(RoutingInput(unit: "N2", sector: "health", severity: .normal)) == .routed([
            Assignment(targetKind: .agency, targetCode: "health-dept", role: .agency),
            Assignment(targetKind: .person, targetCode: "m-north", role: .member),
        ]))
        #expect(table.route(RoutingInput(unit: "S1", sector: "land", severity: .urgent)) == .routed([
            Assignment(targetKind: .agency, targetCode: "land-dept", role: .agency),
            Assignment(targetKind: .person, targetCode: "m-south", role: .member),
        ]))
    }

    @Test("unknown unit or sector is unroutable, with the reason naming it")
    func unroutable() {
        let table = RoutingTable(directory: sampleDirectory())
        #expect(table.route(RoutingInput(unit: "X9", sector: "land", severity: .normal)) == .unroutable(reason: "unit 'X9' is not in the directory"))
        #expect(table.route(RoutingInput(unit: "N1", sector: "roads", severity: .normal)) == .unroutable(reason: "sector 'roads' is not in the directory"))
        #expect(RoutingTable(directory: Directory()).route(RoutingInput(unit: "N1", sector: "land", severity: .normal))
            == .unroutable(reason: "unit 'N1' is not in the directory"))
    }

    @Test("a matching rule replaces the agency and adds watchers; a non-matching one does nothing")
    func ruleOverrides() {
        let table = RoutingTable(directory: sampleDirectory(rules: [
            RoutingRule(id: "digital-north", priority: 5, match: RuleMatch(sector: "land", area: "north"), agency: "it-dept", notify: ["it"]),
        ]))
        #expect(table.route(RoutingInput(unit: "N1", sector: "land", severity: .normal)) == .routed([
            Assignment(targetKind: .agency, targetCode: "it-dept", role: .agency, ruleID: "digital-north"),
            Assignment(targetKind: .person, targetCode: "m-north", role: .member),
            Assignment(targetKind: .person, targetCode: "it", role: .watcher, ruleID: "digital-north"),
        ]))
        #expect(table.route(RoutingInput(unit: "S1", sector: "land", severity: .normal)) == .routed([
            Assignment(targetKind: .agency, targetCode: "land-dept", role: .agency),
            Assignment(targetKind: .person, targetCode: "m-south", role: .member),
        ]))
    }

    @Test("higher priority wins a slot; equal priority goes to the more specific rule, then the smaller id")
    func rulePrecedence() {
        let broad = RoutingRule(id: "a-broad", priority: 1, match: RuleMatch(sector: "land"), agency: "health-dept")
        let specific = RoutingRule(id: "b-specific", priority: 1, match: RuleMatch(sector: "land", unit: "N1"), agency: "it-dept")
        let strong = RoutingRule(id: "c-strong", priority: 9, match: RuleMatch(severity: .urgent), agency: "land-dept", member: "m-south")
        let table = RoutingTable(directory: sampleDirectory(rules: [broad, specific, strong]))
        #expect(table.route(RoutingInput(unit: "N1", sector: "land", severity: .normal)) == .routed([
            Assignment(targetKind: .agency, targetCode: "it-dept", role: .agency, ruleID: "b-specific"),
            Assignment(targetKind: .person, targetCode: "m-north", role: .member),
        ]))
        #expect(table.route(RoutingInput(unit: "N2", sector: "land", severity: .normal)) == .routed([
            Assignment(targetKind: .agency, targetCode: "health-dept", role: .agency, ruleID: "a-broad"),
            Assignment(targetKind: .person, targetCode: "m-north", role: .member),
        ]))
        #expect(table.route(RoutingInput(unit: "N1", sector: "land", severity: .urgent)) == .routed([
            Assignment(targetKind: .agency, targetCode: "land-dept", role: .agency, ruleID: "c-strong"),
            Assignment(targetKind: .person, targetCode: "m-south", role: .member, ruleID: "c-strong"),
        ]))
        let tie = RoutingTable(directory: sampleDirectory(rules: [
            RoutingRule(id: "z", match: RuleMatch(sector: "land"), agency: "health-dept"),
            RoutingRule(id: "y", match: RuleMatch(sector: "land"), agency: "it-dept"),
        ]))
        #expect(tie.route(RoutingInput(unit: "N1", sector: "land", severity: .normal))
            == .routed([Assignment(targetKind: .agency, targetCode: "it-dept", role: .agency, ruleID: "y"),
                        Assignment(targetKind: .person, targetCode: "m-north", role: .member)]))
    }

    @Test("a person is assigned once, even when named as member and as watcher by several rules")
    func noDuplicateTargets() {
        let table = RoutingTable(directory: sampleDirectory(rules: [
            RoutingRule(id: "r1", match: RuleMatch(severity: .urgent), notify: ["office", "m-north"]),
            RoutingRule(id: "r2", match: RuleMatch(area: "north"), notify: ["office", "it"]),
        ]))
        guard case .routed(let assignments) = table.route(RoutingInput(unit: "N1", sector: "land", severity: .urgent)) else {
            Issue.record("expected a route")
            return
        }
        #expect(assignments.map(\.targetCode) == ["land-dept", "m-north", "office", "it"])
        #expect(assignments.filter { $0.role == .watcher }.map(\.ruleID) == ["r1", "r2"])
    }

    @Test("laws over every input: routed iff unit and sector are known; exactly one agency and one member; no target twice; deterministic")
    func laws() {
        let rules = [
            RoutingRule(id: "r1", priority: 3, match: RuleMatch(severity: .urgent), notify: ["office"]),
            RoutingRule(id: "r2", priority: 2, match: RuleMatch(sector: "digital"), agency: "it-dept", notify: ["it", "office"]),
            RoutingRule(id: "r3", priority: 2, match: RuleMatch(unit: "S1"), member: "m-north"),
            RoutingRule(id: "r4", match: RuleMatch(area: "north", severity: .normal), notify: ["m-north"]),
        ]
        let directory = sampleDirectory(rules: rules)
        let forward = RoutingTable(directory: directory)
        var reversed = directory
        reversed.rules.reverse()
        let backward = RoutingTable(directory: reversed)
        let units = directory.units.map(\.code) + ["ghost", ""]
        let sectors = directory.sectors.map(\.code) + ["ghost"]
        for unit in units {
            for sector in sectors {
                for severity in Severity.allCases {
                    let input = RoutingInput(unit: unit, sector: sector, severity: severity)
                    let decision = forward.route(input)
                    // The order rules are listed in does not matter.
                    #expect(decision == backward.route(input))
                    let known = directory.units.contains { $0.code == unit } && directory.sectors.contains { $0.code == sector }
                    switch decision {
                    case .unroutable:
                        #expect(!known)
                    case .routed(let assignments):
                        #expect(known)
                        #expect(assignments.filter { $0.role == .agency }.count == 1)
                        #expect(assignments.filter { $0.role == .member }.count == 1)
                        #expect(assignments.first?.role == .agency)
                        let keys = assignments.map { "\($0.targetKind):\($0.targetCode)" }
                        #expect(Set(keys).count == keys.count)
                    }
                }
            }
        }
    }
}
