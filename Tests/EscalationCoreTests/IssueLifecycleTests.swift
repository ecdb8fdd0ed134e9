import EscalationCore
import Foundation
import Testing

/// The lifecycle as a table: every action × every state × every kind of actor, checked against a
/// table written out here by hand (who may, from which states), not against the code's own.
@Suite("Issue lifecycle")
struct IssueLifecycleTests {
    static let now = Date(timeIntervalSince1970: 1_750_000_000)
    static let hour = 3600.0

    /// One sector with deadlines (4 h to acknowledge, 16 h to resolve, every hour counted: no
    /// calendar) and a two-level chain; a second agency to hand over to, one with a webhook.
    static let policy: EscalationPolicy = {
        var directory = sampleDirectory()
        directory.agencies = [
            Agency(code: "land-dept", name: "Land", emails: ["land@example.org"]),
            Agency(code: "health-dept", name: "Health", emails: ["health@example.org"], webhook: "https://health.example.org/hook"),
            Agency(code: "it-dept", name: "IT"),
        ]
        directory.sectors[0].normal = Deadlines(acknowledgeSeconds: 4 * 3600, resolveSeconds: 16 * 3600)
        directory.chains = [EscalationChain(code: "c", name: "C", levels: [
            EscalationLevel(notify: [.agency]), EscalationLevel(afterSeconds: 7200, notify: [.member]),
        ])]
        directory.defaults = EscalationDefaults(chain: "c")
        return EscalationPolicy(directory: directory, now: now)
    }()

    static let actors: [(String, Actor)] = [
        ("unit", Actor(kind: .unit, code: "N1")),
        ("agency", Actor(kind: .agency, code: "land-dept")),
        ("former agency", Actor(kind: .agency, code: "it-dept")),
        ("member", Actor(kind: .member, code: "m-north")),
        ("supervisor", Actor(kind: .supervisor, code: "office")),
        ("admin", .admin),
    ]

    static let actions: [IssueAction] = [
        .acknowledge, .comment(kind: .direction, text: "Giải quyết trước thứ Sáu"), .reassign(agency: "health-dept", reason: "Thuộc ngành y tế"),
        .resolve(resolution: "Đã xong"), .reopen(reason: "Chưa xong"), .extend(deadline: .acknowledge, bySeconds: 3600, reason: "Chờ"),
        .extend(deadline: .resolve, bySeconds: 3600, reason: "Chờ"), .close,
    ]

    /// Who may do what, by kind (written out independently of `Actor.rights`).
    static let mayDo: [String: Set<ActorKind>] = [
        "acknowledge": [.agency, .supervisor, .admin],
        "comment": [.unit, .agency, .member, .supervisor, .admin],
        "reassign": [.agency, .member, .supervisor, .admin],
        "resolve": [.agency, .supervisor, .admin],
        "reopen": [.unit, .admin],
        "close": [.unit, .admin],
        "extend": [.supervisor, .admin],
    ]

    /// From which states, by action (the acknowledgement deadline moves only while unacknowledged).
    static func allowedStates(_ action: IssueAction) -> Set<IssueState> {
        switch action {
        case .acknowledge: return [.routed]
        case .comment: return Set(IssueState.allCases)
        case .reassign, .resolve: return [.routed, .acknowledged, .reopened]
        case .reopen, .close: return [.resolved]
        case .extend(let clock, _, _): return clock == .acknowledge ? [.routed] : [.routed, .acknowledged, .reopened]
        }
    }

    static func snapshot(_ state: IssueState, level: Int = 0) -> IssueSnapshot {
        IssueSnapshot(state: state, sector: "land", severity: .normal, chain: "c", level: level,
                      acknowledgeDue: now.addingTimeInterval(hour), resolveDue: now.addingTimeInterval(10 * hour),
                      version: 3, agencies: ["land-dept"], unit: "N1", member: "m-north")
    }

    @Test("every action × state × actor kind: refused with the first thing wrong, or allowed with the change the table expects")
    func table() throws {
        var allowed = 0, refused = 0
        for action in Self.actions {
            for state in IssueState.allCases {
                for (label, actor) in Self.actors {
                    let issue = Self.snapshot(state)
                    let result = Result { () throws(IssueActionError) in
                        try IssueLifecycle.apply(action, to: issue, actor: actor, policy: Self.policy, now: Self.now)
                    }
                    let context = "\(action.name) on \(state) by \(label)"
                    let may = Self.mayDo[action.name, default: []].contains(actor.kind)
                    if !may {
                        #expect(result.failure == .forbidden(actor.kind), "\(context)")
                    } else if label == "former agency" && action.operation != .comment {
                        #expect(result.failure == .notResponsible(current: ["land-dept"]), "\(context)")
                    } else if !Self.allowedStates(action).contains(state) {
                        let expected = IssueState.allCases.filter(Self.allowedStates(action).contains)
                        #expect(result.failure == .conflict(state: state, allowed: expected), "\(context)")
                    } else {
                        let change = try #require(result.success, "\(context)")
                        try Self.check(change, of: action, on: issue, by: actor)
                        allowed += 1
                        continue
                    }
                    refused += 1
                }
            }
        }
        // 8 actions × 7 states × 6 actors, and both outcomes well represented.
        #expect(allowed + refused == 8 * 7 * 6)
        #expect(allowed == 78)
    }

    /// What each allowed action must change.
    static func check(_ change: IssueChange, of action: IssueAction, on issue: IssueSnapshot, by actor: Actor) throws {
        let toAgency = { (kind: String) in [PlannedNotification(kind: kind, recipient: Notified(kind: .agency, code: "land-dept"), channels: policy.channels(Notified(kind: .agency, code: "land-dept")))] }
        let ack = try #require(issue.acknowledgeDue), resolve = try #require(issue.resolveDue)
        switch action {
        case .acknowledge:
            #expect(change.state == .acknowledged && change.eventKind == "acknowledged" && change.acknowledged)
            #expect(change.due == resolve)
            // The resolution deadline is now the one the chain watches: level 1 at it.
            #expect(change.next == EscalationStep(level: 1, repeatIndex: 0, at: resolve, levelStart: resolve))
        case .comment(let kind, let text):
            #expect(change.state == issue.state && change.eventKind == "commented")
            #expect(change.keepsDeadlines && change.keepsEscalation && !change.bumpsVersion)
            #expect(change.eventData == ["kind": kind.rawValue, "text": text])
            // A direction from above the agency reaches the agency; the unit's and the agency's own comments notify nobody.
            if kind != .note, [.member, .supervisor, .admin].contains(actor.kind) {
                #expect(change.notifications == toAgency("commented"), "\(actor)")
            } else {
                #expect(change.notifications.isEmpty, "\(actor)")
            }
        case .reassign(let agency, let reason):
            // The new agency starts afresh: acknowledge within 4 h from now, the chain restarted on it.
            let due = now.addingTimeInterval(4 * hour)
            #expect(change.state == .routed && change.eventKind == "reassigned" && change.unacknowledged)
            #expect(change.acknowledgeDue == due && change.due == due && change.resolveDue == resolve)
            #expect(change.next == EscalationStep(level: 1, repeatIndex: 0, at: due, levelStart: due))
            #expect(change.newAgency == agency)
            #expect(change.eventData == ["from": "land-dept", "to": agency, "reason": reason])
            #expect(change.notifications == [PlannedNotification(kind: "routed", recipient: Notified(kind: .agency, code: agency),
                                                                 channels: [.email, .webhook])])
        case .resolve(let resolution):
            #expect(change.state == .resolved && change.resolved && change.due == nil && change.next == nil)
            #expect(change.eventData == ["resolution": resolution])
            // The reporting unit's staff and the member in charge hear of it.
            #expect(change.notifications == [
                PlannedNotification(kind: "resolved", recipient: Notified(kind: .unit, code: "N1"), channels: [.email]),
                PlannedNotification(kind: "resolved", recipient: Notified(kind: .person, code: "m-north"), channels: policy.channels(Notified(kind: .person, code: "m-north"))),
            ])
        case .reopen(let reason):
            let due = now.addingTimeInterval(16 * hour)
            #expect(change.state == .reopened && change.reopened && change.resolveDue == due && change.due == due)
            #expect(change.next == EscalationStep(level: 1, repeatIndex: 0, at: due, levelStart: due))
            #expect(change.eventData == ["reason": reason])
            #expect(change.notifications == toAgency("reopened"))
        case .extend(let clock, _, let reason):
            let moved = (clock == .acknowledge ? ack : resolve).addingTimeInterval(hour)
            #expect(change.state == issue.state && change.eventKind == "deadline_extended" && change.bumpsVersion)
            #expect((clock == .acknowledge ? change.acknowledgeDue : change.resolveDue) == moved)
            #expect(change.eventData["by"] == "1h" && change.eventData["reason"] == reason && change.eventData["deadline"] == clock.rawValue)
            #expect(change.eventData["to"] == EventTime.text(moved))
            #expect(change.notifications == toAgency("deadline_extended"))
            let running = issue.state == .routed ? DeadlineClock.acknowledge : .resolve
            if clock == running {
                #expect(change.due == moved && !change.keepsEscalation)
                #expect(change.next == EscalationStep(level: 1, repeatIndex: 0, at: moved, levelStart: moved))
            } else {
                // Moving the resolution deadline of an unacknowledged issue leaves the chain on the acknowledgement one.
                #expect(change.keepsEscalation && change.due == ack)
            }
        case .close:
            #expect(change.state == .closed && change.eventKind == "closed" && change.due == nil && change.next == nil)
        }
    }

    @Test("the version the caller saw is checked after the right and before the state")
    func staleVersion() {
        let issue = Self.snapshot(.resolved)
        func apply(_ actor: Actor, _ version: Int?) -> IssueActionError? {
            Result { () throws(IssueActionError) in
                try IssueLifecycle.apply(.acknowledge, to: issue, actor: actor, expectedVersion: version, policy: Self.policy, now: Self.now)
            }.failure
        }
        #expect(apply(Actor(kind: .unit, code: "N1"), 2) == .forbidden(.unit))
        #expect(apply(.admin, 2) == .staleVersion(current: 3))
        #expect(apply(.admin, 3) == .conflict(state: .resolved, allowed: [.routed]))
        #expect(apply(.admin, nil) == .conflict(state: .resolved, allowed: [.routed]))
    }

    @Test("a reassignment needs a known agency other than the current one; an agency without channels still gets its (dead) message")
    func reassignChecks() throws {
        let issue = Self.snapshot(.acknowledged)
        func apply(_ agency: String) -> Result<IssueChange, IssueActionError> {
            Result { () throws(IssueActionError) in
                try IssueLifecycle.apply(.reassign(agency: agency, reason: "r"), to: issue, actor: .admin, policy: Self.policy, now: Self.now)
            }
        }
        #expect(apply("land-dept").failure == .alreadyAssigned("land-dept"))
        #expect(apply("roads-dept").failure == .unknownAgency("roads-dept"))
        let change = try #require(apply("it-dept").success)
        #expect(change.notifications == [PlannedNotification(kind: "routed", recipient: Notified(kind: .agency, code: "it-dept"), channels: [])])
    }

    @Test("a sector without deadlines: nothing to extend; a reassignment or reopening keeps the deadlines it had (none) and schedules nothing")
    func withoutDeadlines() throws {
        var issue = Self.snapshot(.routed)
        issue.sector = "health"
        issue.acknowledgeDue = nil
        issue.resolveDue = nil
        issue.chain = nil
        let extend = Result { () throws(IssueActionError) in
            try IssueLifecycle.apply(.extend(deadline: .resolve, bySeconds: 60, reason: "r"), to: issue, actor: .admin, policy: Self.policy, now: Self.now)
        }
        #expect(extend.failure == .noDeadline(.resolve))
        let reassigned = try IssueLifecycle.apply(.reassign(agency: "it-dept", reason: "r"), to: issue, actor: .admin, policy: Self.policy, now: Self.now)
        #expect(reassigned.acknowledgeDue == nil && reassigned.due == nil && reassigned.next == nil)
    }

    @Test("the chain climbs above the highest level fired: acknowledged after level 1 fired, a missed resolution goes to level 2")
    func climbsAbove() throws {
        let issue = Self.snapshot(.routed, level: 1)
        let change = try IssueLifecycle.apply(.acknowledge, to: issue, actor: .admin, policy: Self.policy, now: Self.now)
        let resolve = try #require(issue.resolveDue)
        let level2 = resolve.addingTimeInterval(2 * Self.hour)
        #expect(change.next == EscalationStep(level: 2, repeatIndex: 0, at: level2, levelStart: level2))
    }
}

extension Result {
    var success: Success? { if case .success(let value) = self { value } else { nil } }
    var failure: Failure? { if case .failure(let error) = self { error } else { nil } }
}
