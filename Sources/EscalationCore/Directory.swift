public import Foundation

/// The organisation the daemon routes within: who is who, who answers for what.
///
/// A directory is data: it is imported from a file, validated as a whole, and replaced in one
/// transaction. Nothing about any particular province is built in.
public struct Directory: Sendable, Equatable {
    /// The organisation's name (`Tỉnh Lào Cai`), at the head of its reports; optional.
    public var name: String?
    public var people: [Person]
    public var areas: [Area]
    public var units: [Unit]
    public var agencies: [Agency]
    public var sectors: [Sector]
    public var rules: [RoutingRule]
    /// Working-hours calendars that deadlines of normal issues count on.
    public var calendars: [CalendarDefinition]
    /// Named groups of supervisors that escalation levels notify.
    public var groups: [SupervisorGroup]
    /// Escalation chains: who hears of an overdue issue, level by level.
    public var chains: [EscalationChain]
    /// The calendar and chain of sectors that name none.
    public var defaults: EscalationDefaults

    public init(
        people: [Person] = [],
        areas: [Area] = [],
        units: [Unit] = [],
        agencies: [Agency] = [],
        sectors: [Sector] = [],
        rules: [RoutingRule] = [],
        calendars: [CalendarDefinition] = [],
        groups: [SupervisorGroup] = [],
        chains: [EscalationChain] = [],
        defaults: EscalationDefaults = EscalationDefaults(),
        name: String? = nil
    ) {
        self.name = name
        self.people = people
        self.areas = areas
        self.units = units
        self.agencies = agencies
        self.sectors = sectors
        self.rules = rules
        self.calendars = calendars
        self.groups = groups
        self.chains = chains
        self.defaults = defaults
    }

    /// The time zone of the default calendar (UTC without one): what digests and messages show
    /// local times in.
    public var timeZone: TimeZone {
        defaults.calendar.flatMap { code in calendars.first { $0.code == code } }
            .flatMap { TimeZone(identifier: $0.timeZone) } ?? TimeZone(identifier: "UTC")!
    }

    /// True when the directory holds nothing at all (a database that was never imported into).
    public var isEmpty: Bool {
        people.isEmpty && areas.isEmpty && units.isEmpty && agencies.isEmpty && sectors.isEmpty && rules.isEmpty
            && calendars.isEmpty && groups.isEmpty && chains.isEmpty
    }
}

/// A person: a Standing Committee member, a supervisor, an agency officer.
public struct Person: Sendable, Equatable {
    public var code: String
    public var name: String
    public var email: String?
    public var locale: PersonLocale
    public var role: String?

    public init(code: String, name: String, email: String? = nil, locale: PersonLocale = .vi, role: String? = nil) {
        self.code = code
        self.name = name
        self.email = email
        self.locale = locale
        self.role = role
    }
}

/// A group of units with one Standing Committee member in charge.
public struct Area: Sendable, Equatable {
    public var code: String
    public var name: String
    /// The person code of the member in charge.
    public var member: String

    public init(code: String, name: String, member: String) {
        self.code = code
        self.name = name
        self.member = member
    }
}

/// A commune-level unit (commune or ward) that reports difficulties.
public struct Unit: Sendable, Equatable {
    public var code: String
    public var name: String
    public var kind: UnitKind
    public var area: String

    public init(code: String, name: String, kind: UnitKind, area: String) {
        self.code = code
        self.name = name
        self.kind = kind
        self.area = area
    }
}

/// A provincial agency that guides a sector at commune level.
public struct Agency: Sendable, Equatable {
    public var code: String
    public var name: String
    public var emails: [String]
    public var webhook: String?

    public init(code: String, name: String, emails: [String] = [], webhook: String? = nil) {
        self.code = code
        self.name = name
        self.emails = emails
        self.webhook = webhook
    }
}

/// Time allowed to acknowledge and to resolve an issue, in seconds of counted time (working
/// time for normal issues, every second for urgent ones), both from the report.
public struct Deadlines: Sendable, Equatable {
    public var acknowledgeSeconds: Int
    public var resolveSeconds: Int

    public init(acknowledgeSeconds: Int, resolveSeconds: Int) {
        self.acknowledgeSeconds = acknowledgeSeconds
        self.resolveSeconds = resolveSeconds
    }
}

/// A field of work (land, finance, health...) and the agency responsible for it.
public struct Sector: Sendable, Equatable {
    public var code: String
    public var nameVi: String
    public var nameEn: String
    public var agency: String
    public var normal: Deadlines?
    public var urgent: Deadlines?
    /// The calendar its normal issues count on; nil for the directory's default.
    public var calendar: String?
    /// The escalation chain of its overdue issues; nil for the directory's default.
    public var chain: String?

    public init(
        code: String,
        nameVi: String,
        nameEn: String,
        agency: String,
        normal: Deadlines? = nil,
        urgent: Deadlines? = nil,
        calendar: String? = nil,
        chain: String? = nil
    ) {
        self.code = code
        self.nameVi = nameVi
        self.nameEn = nameEn
        self.agency = agency
        self.normal = normal
        self.urgent = urgent
        self.calendar = calendar
        self.chain = chain
    }
}

/// What a routing rule applies to; a nil field matches anything.
public struct RuleMatch: Sendable, Equatable {
    public var sector: String?
    public var unit: String?
    public var area: String?
    public var severity: Severity?

    public init(sector: String? = nil, unit: String? = nil, area: String? = nil, severity: Severity? = nil) {
        self.sector = sector
        self.unit = unit
        self.area = area
        self.severity = severity
    }

    /// How many fields the match constrains; more constrained rules win ties of priority.
    public var specificity: Int {
        [sector != nil, unit != nil, area != nil, severity != nil].filter { $0 }.count
    }
}

/// A rule that changes or adds to the default route (sector → agency, unit → area → member).
///
/// For each target slot (agency, member) the first matching rule that names one wins, rules
/// being ordered by priority (highest first), then specificity, then id. Every matching rule's
/// `notify` list is added as watchers.
public struct RoutingRule: Sendable, Equatable {
    public var id: String
    public var priority: Int
    public var match: RuleMatch
    public var agency: String?
    public var member: String?
    public var notify: [String]

    public init(
        id: String,
        priority: Int = 0,
        match: RuleMatch = RuleMatch(),
        agency: String? = nil,
        member: String? = nil,
        notify: [String] = []
    ) {
        self.id = id
        self.priority = priority
        self.match = match
        self.agency = agency
        self.member = member
        self.notify = notify
    }
}
