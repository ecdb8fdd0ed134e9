public import Foundation

/// What people do to an issue once it is routed.
public enum IssueAction: Sendable, Equatable {
    case acknowledge
    case comment(kind: CommentKind, text: String)
    case reassign(agency: String, reason: String)
    case resolve(resolution: String)
    case reopen(reason: String)
    case extend(deadline: DeadlineClock, bySeconds: Int, reason: String)
    case close

    public var name: String {
        switch self {
        case .acknowledge: return "acknowledge"
        case .comment: return "comment"
        case .reassign: return "reassign"
        case .resolve: return "resolve"
        case .reopen: return "reopen"
        case .extend: return "extend"
        case .close: return "close"
        }
    }

    /// The states the action applies to.
    public var from: Set<IssueState> {
        switch self {
        case .acknowledge: return [.routed]
        case .comment: return Set(IssueState.allCases)
        case .reassign, .resolve: return [.routed, .acknowledged, .reopened]
        case .reopen, .close: return [.resolved]
        case .extend(let clock, _, _): return clock == .acknowledge ? [.routed] : [.routed, .acknowledged, .reopened]
        }
    }

    /// The right it needs.
    public var operation: Actor.Operation {
        switch self {
        case .acknowledge: return .acknowledge
        case .comment: return .comment
        case .reassign: return .reassign
        case .resolve: return .resolve
        case .reopen: return .reopen
        case .extend: return .extend
        case .close: return .close
        }
    }
}

/// Why an action was refused; nothing changed.
public enum IssueActionError: Error, Sendable, Equatable {
    /// No such issue within the actor's scope.
    case notFound
    /// The actor's kind may not do this.
    case forbidden(ActorKind)
    /// The caller saw another version (If-Match).
    case staleVersion(current: Int)
    /// A reassignment to an agency that is not in the directory.
    case unknownAgency(String)
    /// An agency acting on an issue it handed over (the responsible ones are given).
    case notResponsible(current: [String])
    /// A reassignment to the agency that already has the issue.
    case alreadyAssigned(String)
    /// The action does not apply in the issue's current state.
    case conflict(state: IssueState, allowed: [IssueState])
    /// The deadline to extend is not set (the sector has no deadlines).
    case noDeadline(DeadlineClock)
}

/// An issue as the store reads it under its row lock, before an action.
public struct IssueSnapshot: Sendable, Equatable {
    public var state: IssueState
    public var sector: String
    public var severity: Severity
    /// The chain it climbs, by code.
    public var chain: String?
    /// The highest escalation level fired so far (0 when none).
    public var level: Int
    public var acknowledgeDue: Date?
    public var resolveDue: Date?
    public var version: Int
    /// The agencies responsible for it now.
    public var agencies: [String]
    /// The reporting unit, and the member in charge (assigned by routing), who hear of a resolution.
    public var unit: String
    public var member: String?

    public init(state: IssueState, sector: String, severity: Severity, chain: String? = nil, level: Int = 0,
                acknowledgeDue: Date? = nil, resolveDue: Date? = nil, version: Int, agencies: [String], unit: String = "", member: String? = nil) {
        self.unit = unit
        self.member = member
        self.state = state
        self.sector = sector
        self.severity = severity
        self.chain = chain
        self.level = level
        self.acknowledgeDue = acknowledgeDue
        self.resolveDue = resolveDue
        self.version = version
        self.agencies = agencies
    }
}

/// A message an action causes, written into the outbox beside the action's event.
public struct PlannedNotification: Sendable, Equatable {
    /// The message's kind (its template): `routed` for a new agency.
    public var kind: String
    public var recipient: Notified
    /// Empty when the directory gives the recipient no way to be told (the row is parked as dead).
    public var channels: [DeliveryChannel]

    public init(kind: String, recipient: Notified, channels: [DeliveryChannel]) {
        self.kind = kind
        self.recipient = recipient
        self.channels = channels
    }
}

/// What an allowed action does to an issue: everything the store writes, decided here.
public struct IssueChange: Sendable, Equatable {
    public var state: IssueState
    /// The event's kind (`acknowledged`, `commented`, `reassigned`, ...) and data.
    public var eventKind: String
    public var eventData: [String: String]
    public var acknowledgeDue: Date?
    public var resolveDue: Date?
    /// The running deadline (the issue's `due_at`), when the deadlines are not kept.
    public var due: Date?
    /// The next escalation step, when the escalation is not kept.
    public var next: EscalationStep?
    /// The acknowledgement, resolution and their undoing stamp the issue's times.
    public var acknowledged = false
    public var resolved = false
    public var reopened = false
    /// A new agency: the acknowledgement is to be made again.
    public var unacknowledged = false
    /// Leave the pending escalation step as it is.
    public var keepsEscalation = false
    /// Change neither deadlines nor the version (a comment).
    public var keepsDeadlines = false
    /// The agency taking the issue over (a reassignment); the former one becomes a watcher.
    public var newAgency: String?
    /// The messages to write, beside the event.
    public var notifications: [PlannedNotification] = []

    public init(state: IssueState, eventKind: String, eventData: [String: String] = [:], acknowledgeDue: Date?, resolveDue: Date?) {
        self.state = state
        self.eventKind = eventKind
        self.eventData = eventData
        self.acknowledgeDue = acknowledgeDue
        self.resolveDue = resolveDue
    }

    /// Whether the issue's version moves (every action but a comment).
    public var bumpsVersion: Bool { !keepsDeadlines }
}

/// Every decision of the issue lifecycle: who may act, on which version and state, and what the
/// action changes (state, deadlines, the next escalation step, the event, the messages). Pure:
/// the store locks the issue, reads an ``IssueSnapshot``, calls ``apply(_:to:actor:expectedVersion:policy:now:)``
/// and writes the ``IssueChange``; the HTTP API, the command line and the web app all go through it.
public enum IssueLifecycle {
    /// Decides `action` by `actor` on `issue` at `now` under the directory's `policy`.
    ///
    /// The checks run in this order, so the answer names the first thing wrong: the actor's
    /// right, the version the caller saw (`expectedVersion`, If-Match), an agency's
    /// responsibility (an agency that handed the issue over may still comment), the state, then
    /// what the action itself needs (a known new agency, a deadline to extend).
    public static func apply(_ action: IssueAction, to issue: IssueSnapshot, actor: Actor, expectedVersion: Int? = nil,
                             policy: EscalationPolicy, now: Date) throws(IssueActionError) -> IssueChange {
        guard actor.may(action.operation) else { throw .forbidden(actor.kind) }
        if let expectedVersion, expectedVersion != issue.version { throw .staleVersion(current: issue.version) }
        if actor.kind == .agency, action.operation != .comment, let code = actor.code, !issue.agencies.contains(code) {
            throw .notResponsible(current: issue.agencies)
        }
        let allowed = action.from
        guard allowed.contains(issue.state) else {
            throw .conflict(state: issue.state, allowed: IssueState.allCases.filter(allowed.contains))
        }
        let time = policy.time(sector: issue.sector, severity: issue.severity)
        let chain = issue.chain.flatMap { policy.chain($0) }
        /// The sector's time for `clock`, counted from now (nil when the sector sets none).
        func restarted(_ clock: DeadlineClock) -> Date? {
            guard let deadlines = policy.deadlines(sector: issue.sector, severity: issue.severity) else { return nil }
            return time.due(from: now, seconds: clock == .acknowledge ? deadlines.acknowledgeSeconds : deadlines.resolveSeconds)
        }
        func step(missing deadline: Date?) -> EscalationStep? {
            deadline.flatMap { chain?.step(afterMissing: $0, firedLevel: issue.level, time: time) }
        }
        /// One message of `kind` to each recipient, on the channels the directory gives it.
        func tell(_ recipients: [Notified], _ kind: String) -> [PlannedNotification] {
            recipients.filter { !$0.code.isEmpty }.map { PlannedNotification(kind: kind, recipient: $0, channels: policy.channels($0)) }
        }
        func change(_ state: IssueState, _ kind: String) -> IssueChange {
            IssueChange(state: state, eventKind: kind, acknowledgeDue: issue.acknowledgeDue, resolveDue: issue.resolveDue)
        }

        var result: IssueChange
        switch action {
        case .comment(let kind, let text):
            result = change(issue.state, "commented")
            result.keepsEscalation = true
            result.keepsDeadlines = true
            result.eventData = ["kind": kind.rawValue, "text": text]
            // A direction, an opinion or guidance from above the agency reaches the agency; notes notify nobody.
            if kind != .note, [.member, .supervisor, .admin].contains(actor.kind) {
                result.notifications = tell(issue.agencies.map { Notified(kind: .agency, code: $0) }, "commented")
            }
        case .reassign(let agency, let reason):
            guard !issue.agencies.contains(agency) else { throw .alreadyAssigned(agency) }
            guard policy.knowsAgency(agency) else { throw .unknownAgency(agency) }
            // The new agency starts afresh: it must acknowledge, on the sector's time from now.
            result = change(.routed, "reassigned")
            result.unacknowledged = true
            result.acknowledgeDue = restarted(.acknowledge) ?? issue.acknowledgeDue
            result.due = result.acknowledgeDue
            result.next = step(missing: result.acknowledgeDue)
            result.newAgency = agency
            if let from = issue.agencies.first { result.eventData["from"] = from }
            result.eventData["to"] = agency
            result.eventData["reason"] = reason
            let recipient = Notified(kind: .agency, code: agency)
            result.notifications = [PlannedNotification(kind: "routed", recipient: recipient, channels: policy.channels(recipient))]
        case .acknowledge:
            result = change(.acknowledged, "acknowledged")
            result.acknowledged = true
            result.due = issue.resolveDue
            result.next = step(missing: issue.resolveDue)
        case .resolve(let resolution):
            result = change(.resolved, "resolved")
            result.resolved = true
            result.eventData["resolution"] = resolution
            // The reporting unit's staff (to close or reopen it) and the member in charge.
            result.notifications = tell([Notified(kind: .unit, code: issue.unit)] + (issue.member.map { [Notified(kind: .person, code: $0)] } ?? []), "resolved")
        case .reopen(let reason):
            result = change(.reopened, "reopened")
            result.reopened = true
            result.resolveDue = restarted(.resolve) ?? issue.resolveDue
            result.due = result.resolveDue
            result.next = step(missing: result.resolveDue)
            result.eventData["reason"] = reason
            result.notifications = tell(issue.agencies.map { Notified(kind: .agency, code: $0) }, "reopened")
        case .extend(let clock, let seconds, let reason):
            let old = clock == .acknowledge ? issue.acknowledgeDue : issue.resolveDue
            guard let old, let new = time.due(from: old, seconds: seconds) else { throw .noDeadline(clock) }
            result = change(issue.state, "deadline_extended")
            if clock == .acknowledge { result.acknowledgeDue = new } else { result.resolveDue = new }
            // Only the running deadline moves the chain: the acknowledgement one while unacknowledged.
            let running: DeadlineClock = issue.state == .routed ? .acknowledge : .resolve
            if clock == running {
                result.due = new
                result.next = step(missing: new)
            } else {
                result.keepsEscalation = true
                result.due = issue.state == .routed ? issue.acknowledgeDue : issue.resolveDue
            }
            result.eventData = [
                "deadline": clock.rawValue, "from": EventTime.text(old), "to": EventTime.text(new),
                "by": DurationText.format(seconds: seconds), "reason": reason,
            ]
            result.notifications = tell(issue.agencies.map { Notified(kind: .agency, code: $0) }, "deadline_extended")
        case .close:
            result = change(.closed, "closed")
        }
        return result
    }
}

/// Instants as events record them: ISO 8601 in UTC with milliseconds (`2025-06-17T01:30:00.000Z`).
public enum EventTime {
    public static func text(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
