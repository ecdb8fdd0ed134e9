import EscalationCore
import Testing

@Suite("Directory validation")
struct DirectoryValidationTests {
    @Test("the sample directory is valid")
    func valid() throws {
        #expect(sampleDirectory().problems().isEmpty)
        try sampleDirectory().validate()
    }

    @Test("dangling references are reported with entry and field")
    func references() {
        var d = sampleDirectory()
        d.units.append(Unit(code: "Z1", name: "Z", kind: .commune, area: "nowhere"))
        d.areas[0].member = "nobody"
        d.sectors[0].agency = "no-agency"
        d.rules = [RoutingRule(id: "r", match: RuleMatch(sector: "x", unit: "y", area: "z"), agency: "a", member: "m", notify: ["p"])]
        let problems = d.problems()
        #expect(problems.contains(DirectoryProblem(entry: "units[3] (Z1)", field: "area", message: "unknown area 'nowhere'")))
        #expect(problems.contains(DirectoryProblem(entry: "areas[0] (north)", field: "member", message: "unknown person 'nobody'")))
        #expect(problems.contains(DirectoryProblem(entry: "sectors[0] (land)", field: "agency", message: "unknown agency 'no-agency'")))
        for field in ["match.sector", "match.unit", "match.area", "agency", "member", "notify"] {
            #expect(problems.contains { $0.entry == "routing[0] (r)" && $0.field == field }, "missing \(field)")
        }
    }

    @Test("duplicate and malformed codes, empty names, bad emails, bad deadlines, empty rules")
    func shapes() {
        var d = sampleDirectory()
        d.units.append(Unit(code: "N1", name: "again", kind: .commune, area: "north"))
        d.units.append(Unit(code: "has space", name: "x", kind: .commune, area: "north"))
        d.units.append(Unit(code: "-lead", name: "  ", kind: .commune, area: "north"))
        d.people.append(Person(code: "p", name: "P", email: "not-an-email"))
        d.agencies[0].webhook = "ftp://x"
        d.sectors[0].normal = Deadlines(acknowledgeSeconds: 36000, resolveSeconds: 3600)
        d.sectors[1].urgent = Deadlines(acknowledgeSeconds: 0, resolveSeconds: 3600)
        d.rules = [RoutingRule(id: "empty")]
        let fields = Set(d.problems().map { "\($0.entry)|\($0.field)" })
        #expect(fields.contains("units[3] (N1)|code"))
        #expect(fields.contains("units[4] (has space)|code"))
        #expect(fields.contains("units[5] (-lead)|code"))
        #expect(fields.contains("units[5] (-lead)|name"))
        #expect(fields.contains("people[4] (p)|email"))
        #expect(fields.contains("agencies[0] (land-dept)|webhook"))
        #expect(fields.contains("sectors[0] (land)|deadlines.normal"))
        #expect(fields.contains("sectors[1] (health)|deadlines.urgent.acknowledge"))
        #expect(fields.contains("routing[0] (empty)|agency"))
        #expect(throws: DirectoryValidationError.self) { try d.validate() }
    }

    @Test("codes: letters, digits, '-', '_', '.', starting with a letter or digit, at most 64")
    func codes() {
        for good in ["a", "LC-SAPA-01", "so_y_te", "v1.2", String(repeating: "x", count: 64)] {
            #expect(Code.isValid(good), "\(good)")
        }
        for bad in ["", "-a", ".a", "a b", "á", "a/b", "a;drop", String(repeating: "x", count: 65), "a\n"] {
            #expect(!Code.isValid(bad), "\(bad)")
        }
    }
}
