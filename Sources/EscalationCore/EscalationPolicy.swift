public import Foundation

/// The deadlines and the first escalation step of an issue, decided when it is routed.
public struct DeadlinePlan: Sendable, Equatable {
    public var acknowledgeDue: Date
    public var resolveDue: Date
    /// The chain the issue climbs when late, by code; nil when its sector has none.
    public var chain: String?
    /// The first step if the acknowledgement deadline is missed.
    public var firstStep: EscalationStep?
}

/// Someone an escalation reaches: an agency or a person, by code.
public struct Notified: Sendable, Hashable {
    public var kind: TargetKind
    public var code: String

    public init(kind: TargetKind, code: String) {
        self.kind = kind
        self.code = code
    }
}

/// The directory's deadlines, calendars and chains, compiled for the router and the escalator.
///
/// Built once per directory revision. Normal issues count working time on their sector's
/// calendar (or the default one; every hour when there is none); urgent issues count every hour.
public struct EscalationPolicy: Sendable {
    private let sectors: [String: Sector]
    private let timelines: [String: WorkingTimeline]
    private let chains: [String: EscalationChain]
    private let groupMembers: [String: [String]]
    private let defaults: EscalationDefaults
    private let people: [String: Person]
    private let agencies: [String: Agency]

    /// Compiles the calendars over a window around `now` (60 days back, 800 ahead); instants
    /// outside it are still answered, more slowly.
    public init(directory: Directory, now: Date) {
        sectors = Dictionary(directory.sectors.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        var timelines: [String: WorkingTimeline] = [:]
        for definition in directory.calendars {
            guard let calendar = try? definition.compile() else { continue }
            timelines[definition.code] = WorkingTimeline(
                calendar: calendar, from: now.addingTimeInterval(-60 * 86400), to: now.addingTimeInterval(800 * 86400))
        }
        self.timelines = timelines
        chains = Dictionary(directory.chains.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        let groups = Dictionary(directory.groups.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        var members: [String: [String]] = [:]
        for group in directory.groups {
            var seen = Set<String>(), visited = Set<String>(), ordered: [String] = []
            func collect(_ code: String) {
                guard visited.insert(code).inserted, let g = groups[code] else { return }
                for person in g.members where seen.insert(person).inserted { ordered.append(person) }
                for inner in g.includes { collect(inner) }
            }
            collect(group.code)
            members[group.code] = ordered
        }
        groupMembers = members
        defaults = directory.defaults
        people = Dictionary(directory.people.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        agencies = Dictionary(directory.agencies.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The people of a supervisor group, its included groups' too, each once.
    public func members(ofGroup code: String) -> [String] { groupMembers[code] ?? [] }

    /// How a recipient can be told: `email` when the directory has an address for it, `webhook`
    /// for an agency with a webhook; empty when neither (the message is parked as dead, visibly).
    /// Whether the directory has this agency.
    public func knowsAgency(_ code: String) -> Bool { agencies[code] != nil }

    public func channels(_ recipient: Notified) -> [DeliveryChannel] {
        switch recipient.kind {
        case .person: return people[recipient.code]?.email == nil ? [] : [.email]
        // Accounts always have an email address.
        case .unit, .account: return [.email]
        case .agency:
            guard let agency = agencies[recipient.code] else { return [] }
            return (agency.emails.isEmpty ? [] : [.email]) + (agency.webhook == nil ? [] : [.webhook])
        }
    }

    /// The counted time of a sector's issues of a severity.
    public func time(sector: String, severity: Severity) -> any CountedTime {
        if severity == .urgent { return AllHours() }
        guard let code = sectors[sector]?.calendar ?? defaults.calendar, let timeline = timelines[code] else { return AllHours() }
        return timeline
    }

    public func deadlines(sector: String, severity: Severity) -> Deadlines? {
        guard let s = sectors[sector] else { return nil }
        return severity == .urgent ? s.urgent : s.normal
    }

    /// The chain a sector's issues climb, by code.
    public func chainCode(sector: String) -> String? {
        guard let code = sectors[sector]?.chain ?? defaults.chain, chains[code] != nil else { return nil }
        return code
    }

    public func chain(_ code: String) -> EscalationChain? { chains[code] }

    /// Deadlines counted from the report, and the first step if acknowledgement is late; nil
    /// when the sector sets no deadlines for the severity.
    public func plan(sector: String, severity: Severity, reportedAt: Date) -> DeadlinePlan? {
        guard let d = deadlines(sector: sector, severity: severity) else { return nil }
        let time = time(sector: sector, severity: severity)
        guard let ack = time.due(from: reportedAt, seconds: d.acknowledgeSeconds),
              let resolve = time.due(from: reportedAt, seconds: d.resolveSeconds) else { return nil }
        let chainCode = chainCode(sector: sector)
        let first = chainCode.flatMap { chains[$0] }?.step(afterMissing: ack, firedLevel: 0, time: time)
        return DeadlinePlan(acknowledgeDue: ack, resolveDue: resolve, chain: chainCode, firstStep: first)
    }

    /// Who a level of a chain notifies for an issue assigned to `agency` and `member`, in the
    /// level's order, each once. Roles the issue lacks (no member assigned) are left out.
    public func recipients(chain code: String, level: Int, agency: String?, member: String?) -> [Notified] {
        guard let chain = chains[code], level >= 1, level <= chain.levels.count else { return [] }
        var seen = Set<Notified>(), out: [Notified] = []
        func add(_ n: Notified) { if seen.insert(n).inserted { out.append(n) } }
        for recipient in chain.levels[level - 1].notify {
            switch recipient {
            case .agency: if let agency { add(Notified(kind: .agency, code: agency)) }
            case .member: if let member { add(Notified(kind: .person, code: member)) }
            case .person(let p): add(Notified(kind: .person, code: p))
            case .group(let g): for p in groupMembers[g] ?? [] { add(Notified(kind: .person, code: p)) }
            }
        }
        return out
    }
}
