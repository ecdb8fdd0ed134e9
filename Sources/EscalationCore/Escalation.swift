public import Foundation

/// A working-hours calendar as the directory names it: a code and what ``WorkingCalendar`` needs.
public struct CalendarDefinition: Sendable, Equatable {
    public var code: String
    /// An IANA time zone name, such as `Asia/Ho_Chi_Minh`.
    public var timeZone: String
    /// Hours per weekday, 1 = Sunday ... 7 = Saturday; a missing weekday does not work.
    public var weekly: [Int: [WorkingHours]]
    public var holidays: [LocalDate]
    /// Days that work although their weekday does not (make-up Saturdays), with their hours.
    public var extraDays: [LocalDate: [WorkingHours]]

    public init(code: String, timeZone: String, weekly: [Int: [WorkingHours]], holidays: [LocalDate] = [], extraDays: [LocalDate: [WorkingHours]] = [:]) {
        self.code = code
        self.timeZone = timeZone
        self.weekly = weekly
        self.holidays = holidays
        self.extraDays = extraDays
    }

    public func compile() throws(WorkingCalendar.Problem) -> WorkingCalendar {
        try WorkingCalendar(timeZone: timeZone, weekly: weekly, holidays: Set(holidays), extraDays: extraDays)
    }
}

/// A named group of people that escalation levels notify (the Standing Committee's supervisors).
///
/// A group may include other groups; the directory refuses a group that includes itself.
public struct SupervisorGroup: Sendable, Equatable {
    public var code: String
    public var name: String
    /// Person codes.
    public var members: [String]
    /// Codes of groups whose members belong to this one too.
    public var includes: [String]
    /// When the group's daily digest goes out, in minutes after local midnight (the default
    /// calendar's time zone); nil for no daily digest.
    public var digestMinute: Int?
    /// The periodic report the group gets (weekly or monthly), nil for none.
    public var report: ReportKind?
    /// When the periodic report goes out on the first day of the next period, in minutes after
    /// local midnight; nil for ``defaultReportMinute``. Only meaningful with ``report``.
    public var reportMinute: Int?

    /// When a periodic report goes out without `report_at`: 08:00.
    public static let defaultReportMinute = 8 * 60

    public init(code: String, name: String, members: [String] = [], includes: [String] = [], digestMinute: Int? = nil,
                report: ReportKind? = nil, reportMinute: Int? = nil) {
        self.code = code
        self.name = name
        self.members = members
        self.includes = includes
        self.digestMinute = digestMinute
        self.report = report
        self.reportMinute = reportMinute
    }

    /// The periodic report and its minute, nil without one.
    public var reportSchedule: (kind: ReportKind, minute: Int)? {
        report.map { ($0, reportMinute ?? Self.defaultReportMinute) }
    }

    /// Reads `HH:MM` (00:00 to 23:59) into minutes after midnight.
    public static func minute(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
              (0...23).contains(h), (0...59).contains(m) else { return nil }
        return h * 60 + m
    }

    /// `HH:MM`.
    public static func text(minute: Int) -> String { String(format: "%02d:%02d", minute / 60, minute % 60) }
}

/// Who an escalation level notifies.
public enum Recipient: Sendable, Hashable, CustomStringConvertible {
    /// The agency the issue is assigned to.
    case agency
    /// The Standing Committee member assigned to the issue (in charge of the unit's area).
    case member
    /// Every member of a supervisor group.
    case group(String)
    /// One person.
    case person(String)

    /// Reads `agency`, `member`, `group:CODE` or `person:CODE`.
    public init?(_ text: String) {
        switch text {
        case "agency": self = .agency
        case "member": self = .member
        default:
            if text.hasPrefix("group:"), text.count > 6 { self = .group(String(text.dropFirst(6))) }
            else if text.hasPrefix("person:"), text.count > 7 { self = .person(String(text.dropFirst(7))) }
            else { return nil }
        }
    }

    public var description: String {
        switch self {
        case .agency: return "agency"
        case .member: return "member"
        case .group(let code): return "group:\(code)"
        case .person(let code): return "person:\(code)"
        }
    }
}

/// One level of an escalation chain.
public struct EscalationLevel: Sendable, Equatable {
    /// Counted seconds after the previous level fired (for the first level: after the missed deadline).
    public var afterSeconds: Int
    public var notify: [Recipient]
    /// Reminders of this level: every `repeatEverySeconds` of counted time, at most `repeatTimes`
    /// times, until the next level fires.
    public var repeatEverySeconds: Int?
    public var repeatTimes: Int

    public init(afterSeconds: Int = 0, notify: [Recipient], repeatEverySeconds: Int? = nil, repeatTimes: Int = 0) {
        self.afterSeconds = afterSeconds
        self.notify = notify
        self.repeatEverySeconds = repeatEverySeconds
        self.repeatTimes = repeatTimes
    }
}

/// An ordered list of levels an overdue issue climbs, one at a time, never back down.
public struct EscalationChain: Sendable, Equatable {
    public var code: String
    public var name: String
    public var levels: [EscalationLevel]

    public init(code: String, name: String, levels: [EscalationLevel]) {
        self.code = code
        self.name = name
        self.levels = levels
    }
}

/// The calendar and chain of sectors that name none.
public struct EscalationDefaults: Sendable, Equatable {
    public var calendar: String?
    public var chain: String?

    public init(calendar: String? = nil, chain: String? = nil) {
        self.calendar = calendar
        self.chain = chain
    }
}

/// Which deadline was missed.
public enum DeadlineClock: String, Sendable, Hashable, CaseIterable, Codable {
    case acknowledge
    case resolve
}

/// One firing of a chain: a level (1-based) and its repeat (0 is the level itself, 1... reminders).
public struct EscalationStep: Sendable, Hashable, CustomStringConvertible {
    public var level: Int
    public var repeatIndex: Int
    /// When it is due.
    public var at: Date
    /// When the level's first firing was due; reminders count from it.
    public var levelStart: Date

    public init(level: Int, repeatIndex: Int, at: Date, levelStart: Date) {
        self.level = level
        self.repeatIndex = repeatIndex
        self.at = at
        self.levelStart = levelStart
    }

    public var description: String { "level \(level)\(repeatIndex > 0 ? " reminder \(repeatIndex)" : "") at \(at)" }
}

/// Counted time: working time on a calendar, or every second.
public protocol CountedTime: Sendable {
    /// The instant at which `seconds` of counted time have passed since `start`, or nil when none
    /// is in sight.
    func due(from start: Date, seconds: Int) -> Date?
    /// Counted seconds between two instants (zero when `end` is not after `start`).
    func workingSeconds(from start: Date, to end: Date) -> Int
}

extension WorkingCalendar: CountedTime {}

/// Every second counts (urgent issues).
public struct AllHours: CountedTime {
    public init() {}
    public func due(from start: Date, seconds: Int) -> Date? { start.addingTimeInterval(Double(max(0, seconds))) }
    public func workingSeconds(from start: Date, to end: Date) -> Int { max(0, Int(end.timeIntervalSince(start).rounded())) }
}

extension EscalationChain {
    /// The first step once `deadline` is missed, climbing above `firedLevel` (0 when none fired).
    ///
    /// The chain never goes back down: an issue acknowledged after level 2 fired, then late to be
    /// resolved, continues at level 3. Nil when no level is left.
    public func step(afterMissing deadline: Date, firedLevel: Int, time: some CountedTime) -> EscalationStep? {
        let level = max(0, firedLevel) + 1
        guard level <= levels.count, let at = time.due(from: deadline, seconds: levels[level - 1].afterSeconds) else { return nil }
        return EscalationStep(level: level, repeatIndex: 0, at: at, levelStart: at)
    }

    /// The step after `fired`: its level's next reminder, or the next level, whichever is due first
    /// (a level's reminders stop once the next level is due). Nil at the end of the chain.
    ///
    /// Times count from when steps were due, not from when they fired, so a late firing does not
    /// push the rest of the chain later.
    public func step(after fired: EscalationStep, time: some CountedTime) -> EscalationStep? {
        guard fired.level >= 1, fired.level <= levels.count else { return nil }
        let level = levels[fired.level - 1]
        var reminder: Date?
        if let every = level.repeatEverySeconds, every > 0, fired.repeatIndex < level.repeatTimes {
            reminder = time.due(from: fired.levelStart, seconds: every * (fired.repeatIndex + 1))
        }
        var next: Date?
        if fired.level < levels.count {
            next = time.due(from: fired.levelStart, seconds: levels[fired.level].afterSeconds)
        }
        if let reminder, next.map({ reminder < $0 }) ?? true {
            return EscalationStep(level: fired.level, repeatIndex: fired.repeatIndex + 1, at: reminder, levelStart: fired.levelStart)
        }
        if let next {
            return EscalationStep(level: fired.level + 1, repeatIndex: 0, at: next, levelStart: next)
        }
        return nil
    }

    /// Every step from a missed deadline to the end of the chain, in order (for tests and previews).
    public func schedule(afterMissing deadline: Date, time: some CountedTime) -> [EscalationStep] {
        var steps: [EscalationStep] = []
        var step = self.step(afterMissing: deadline, firedLevel: 0, time: time)
        while let current = step, steps.count < 10_000 {
            steps.append(current)
            step = self.step(after: current, time: time)
        }
        return steps
    }
}
