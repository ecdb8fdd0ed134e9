import EscalationCore
import Foundation
import EscalationTestSupport
import Testing

@Suite("Escalation chains and policy")
struct EscalationTests {
    static let t0 = Date(timeIntervalSince1970: 1_750_000_000)

    /// Agency at T, reminders every 1h up to 3 times, member 2h30 after the agency, supervisors 4h after that.
    static let chain = EscalationChain(code: "c", name: "C", levels: [
        EscalationLevel(notify: [.agency], repeatEverySeconds: 3600, repeatTimes: 3),
        EscalationLevel(afterSeconds: 9000, notify: [.member]),
        EscalationLevel(afterSeconds: 4 * 3600, notify: [.group("g")], repeatEverySeconds: 3600, repeatTimes: 1),
    ])

    func at(_ hours: Double) -> Date { Self.t0.addingTimeInterval(hours * 3600) }

    @Test("a chain fires level by level; reminders stop when the next level is due; the last level's reminders run out")
    func schedule() {
        let steps = Self.chain.schedule(afterMissing: Self.t0, time: AllHours())
        #expect(steps.map { "\($0.level).\($0.repeatIndex)" } == ["1.0", "1.1", "1.2", "2.0", "3.0", "3.1"])
        #expect(steps.map(\.at) == [at(0), at(1), at(2), at(2.5), at(6.5), at(7.5)])
    }

    @Test("after an acknowledgement, a missed resolution climbs on above the highest level fired; a finished chain fires nothing")
    func resumesAbove() {
        let step = Self.chain.step(afterMissing: at(10), firedLevel: 1, time: AllHours())
        #expect(step == EscalationStep(level: 2, repeatIndex: 0, at: at(12.5), levelStart: at(12.5)))
        #expect(Self.chain.step(afterMissing: at(10), firedLevel: 3, time: AllHours()) == nil)
        #expect(Self.chain.step(afterMissing: at(10), firedLevel: 0, time: AllHours())?.at == at(10))
    }

    @Test("times count from when steps were due, so a late firing does not delay the rest")
    func noDrift() {
        let first = EscalationStep(level: 1, repeatIndex: 0, at: at(0), levelStart: at(0))
        let second = Self.chain.step(after: first, time: AllHours())!
        #expect(second.at == at(1))
        #expect(Self.chain.step(after: second, time: AllHours())!.at == at(2))
    }

    @Test("on a working calendar, delays count working time: Friday 16:00 + 2h30 is Monday 09:00")
    func workingDelays() throws {
        let calendar = try vietnamCalendar()
        let chain = EscalationChain(code: "c", name: "C", levels: [
            EscalationLevel(notify: [.agency]), EscalationLevel(afterSeconds: 9000, notify: [.member]),
        ])
        let steps = chain.schedule(afterMissing: vn("2025-06-13 16:00"), time: calendar)
        #expect(steps.map(\.at) == [vn("2025-06-13 16:00"), vn("2025-06-16 09:00")])
    }

    @Test("laws over seeded random chains: steps are in time order, each (level, repeat) once, levels never go down, nothing before the missed deadline")
    func laws() throws {
        var random = SeededGenerator(state: 4242)
        let calendar = try vietnamCalendar()
        for _ in 0..<500 {
            let levels = (0..<Int.random(in: 1...5, using: &random)).map { index in
                EscalationLevel(afterSeconds: index == 0 ? Int.random(in: 0...3600, using: &random) : Int.random(in: 1...20000, using: &random),
                                notify: [.agency], repeatEverySeconds: Int.random(in: 1...9000, using: &random),
                                repeatTimes: Int.random(in: 0...4, using: &random))
            }
            let chain = EscalationChain(code: "r", name: "R", levels: levels)
            let start = vn("2025-06-01 00:00").addingTimeInterval(Double(Int.random(in: 0...(200 * 86400), using: &random)))
            let steps = chain.schedule(afterMissing: start, time: calendar)
            #expect(steps.first?.level == 1)
            #expect(steps.last?.level == levels.count)
            #expect(Set(steps.map { "\($0.level).\($0.repeatIndex)" }).count == steps.count)
            for (a, b) in zip(steps, steps.dropFirst()) {
                #expect(a.at <= b.at)
                #expect(b.level == a.level || (b.level == a.level + 1 && b.repeatIndex == 0))
            }
            #expect(steps.allSatisfy { $0.at >= start && $0.repeatIndex <= levels[$0.level - 1].repeatTimes })
        }
    }

    @Test("the timeline answers exactly as the calendar does, over 3,000 seeded random starts and durations, and outside its window")
    func timelineAgrees() throws {
        let calendar = try vietnamCalendar()
        let timeline = WorkingTimeline(calendar: calendar, from: vn("2025-06-01 00:00"), to: vn("2026-03-01 00:00"))
        var random = SeededGenerator(state: 99)
        for _ in 0..<3000 {
            // Starts a little outside the window too, to use the fallback.
            let start = vn("2025-05-20 00:00").addingTimeInterval(Double(Int.random(in: 0...(300 * 86400), using: &random)) + 0.25)
            let seconds = Int.random(in: 0...(80 * 3600), using: &random)
            let expected = try #require(calendar.due(from: start, seconds: seconds))
            let got = try #require(timeline.due(from: start, seconds: seconds))
            #expect(abs(got.timeIntervalSince(expected)) < 0.001, "\(start) + \(seconds)s")
            let end = start.addingTimeInterval(Double(Int.random(in: 0...(20 * 86400), using: &random)))
            #expect(timeline.workingSeconds(from: start, to: end) == calendar.workingSeconds(from: start, to: end))
        }
    }

    @Test("the policy: normal issues count on the sector's calendar, urgent ones every hour; the first step is at the acknowledgement deadline")
    func policy() throws {
        let day = [WorkingHours("07:30-11:30")!, WorkingHours("13:30-17:00")!]
        var directory = sampleDirectory()
        directory.calendars = [CalendarDefinition(code: "vn", timeZone: "Asia/Ho_Chi_Minh", weekly: [2: day, 3: day, 4: day, 5: day, 6: day])]
        directory.groups = [SupervisorGroup(code: "g", name: "G", members: ["office"], includes: ["h"]),
                            SupervisorGroup(code: "h", name: "H", members: ["it", "office"])]
        directory.chains = [Self.chain]
        directory.defaults = EscalationDefaults(calendar: "vn", chain: "c")
        directory.sectors[0].normal = Deadlines(acknowledgeSeconds: 4 * 3600, resolveSeconds: 40 * 3600)
        directory.sectors[0].urgent = Deadlines(acknowledgeSeconds: 3600, resolveSeconds: 8 * 3600)
        #expect(directory.problems().isEmpty)
        let policy = EscalationPolicy(directory: directory, now: vn("2025-06-13 00:00"))

        let normal = try #require(policy.plan(sector: "land", severity: .normal, reportedAt: vn("2025-06-13 16:00")))
        #expect(normal.acknowledgeDue == vn("2025-06-16 10:30"))
        // 1h on Friday, 37h30 over the next week, 1h30 on the Monday after.
        #expect(normal.resolveDue == vn("2025-06-23 09:00"))
        #expect(normal.chain == "c")
        #expect(normal.firstStep == EscalationStep(level: 1, repeatIndex: 0, at: vn("2025-06-16 10:30"), levelStart: vn("2025-06-16 10:30")))
        let urgent = try #require(policy.plan(sector: "land", severity: .urgent, reportedAt: vn("2025-06-13 16:00")))
        #expect(urgent.acknowledgeDue == vn("2025-06-13 17:00"))
        #expect(policy.plan(sector: "health", severity: .normal, reportedAt: Self.t0) == nil)

        #expect(policy.recipients(chain: "c", level: 1, agency: "land-dept", member: "m-north") == [Notified(kind: .agency, code: "land-dept")])
        #expect(policy.recipients(chain: "c", level: 2, agency: "land-dept", member: nil) == [])
        #expect(policy.recipients(chain: "c", level: 3, agency: nil, member: nil) == [Notified(kind: .person, code: "office"), Notified(kind: .person, code: "it")])
        #expect(policy.recipients(chain: "c", level: 4, agency: "x", member: "y") == [])
    }

    @Test("bad calendars, groups and chains are refused at import, each naming its entry and field")
    func validation() {
        var d = sampleDirectory()
        let day = [WorkingHours("07:30-11:30")!]
        d.calendars = [
            CalendarDefinition(code: "bad-zone", timeZone: "Asia/Lao_Cai", weekly: [2: day]),
            CalendarDefinition(code: "overlap", timeZone: "UTC", weekly: [3: [WorkingHours("08:00-12:00")!, WorkingHours("11:00-14:00")!]]),
            CalendarDefinition(code: "idle", timeZone: "UTC", weekly: [:]),
            CalendarDefinition(code: "twice", timeZone: "UTC", weekly: [2: day], holidays: [LocalDate("2025-09-02")!, LocalDate("2025-09-02")!]),
        ]
        d.groups = [SupervisorGroup(code: "a", name: "A", members: ["office"], includes: ["b"]),
                    SupervisorGroup(code: "b", name: "B", members: ["nobody"], includes: ["a"]),
                    SupervisorGroup(code: "empty", name: "E")]
        d.chains = [EscalationChain(code: "c", name: "C", levels: [
            EscalationLevel(notify: []),
            EscalationLevel(afterSeconds: 0, notify: [.group("missing"), .person("ghost")]),
            EscalationLevel(afterSeconds: 60, notify: [.agency, .agency], repeatTimes: 2),
        ]), EscalationChain(code: "none", name: "N", levels: [])]
        d.defaults = EscalationDefaults(calendar: "nope", chain: "nope")
        d.sectors[0].normal = Deadlines(acknowledgeSeconds: 60, resolveSeconds: 120)
        d.sectors[1].chain = "unknown-chain"
        let found = Set(d.problems().map { "\($0.entry)|\($0.field)|\($0.message)" })
        let expected = [
            "calendars[0] (bad-zone)|time_zone|'Asia/Lao_Cai' is not an IANA time zone",
            "calendars[1] (overlap)|hours.tue|hours overlap or are out of order",
            "calendars[2] (idle)|hours|the calendar has no working hours on any weekday",
            "calendars[3] (twice)|holidays|lists a date twice",
            "groups[0] (a)|includes|includes itself through a cycle of groups",
            "groups[1] (b)|includes|includes itself through a cycle of groups",
            "groups[1] (b)|members|unknown person 'nobody'",
            "groups[2] (empty)|members|a group needs at least one member",
            "chains[0] (c)|levels[0].notify|a level must notify someone",
            "chains[0] (c)|levels[1].after|must be longer than zero after the first level",
            "chains[0] (c)|levels[1].notify|unknown group 'missing'",
            "chains[0] (c)|levels[1].notify|unknown person 'ghost'",
            "chains[0] (c)|levels[2].notify|names a recipient twice",
            "chains[0] (c)|levels[2].repeat.every|reminders need a duration between them",
            "chains[1] (none)|levels|a chain needs at least one level",
            "defaults|calendar|unknown calendar 'nope'",
            "defaults|chain|unknown chain 'nope'",
            "sectors[1] (health)|chain|unknown chain 'unknown-chain'",
        ]
        for line in expected { #expect(found.contains(line), "missing: \(line)") }
        #expect(!found.contains { $0.hasPrefix("sectors[0] (land)|calendar") }, "the default calendar is named, even if unknown")
        d.defaults.calendar = nil
        #expect(d.problems().contains(DirectoryProblem(entry: "sectors[0] (land)", field: "calendar",
                                                       message: "normal deadlines count working time: name a calendar here or in defaults.calendar")))
    }

    @Test("recipients read as agency, member, group:CODE, person:CODE and nothing else")
    func recipients() {
        for text in ["agency", "member", "group:g", "person:p"] { #expect(Recipient(text)?.description == text) }
        for text in ["", "group:", "person:", "Agency", "supervisor", "group"] { #expect(Recipient(text) == nil, "\(text)") }
    }
}
