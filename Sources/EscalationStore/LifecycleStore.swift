public import EscalationCore
public import Logging
public import PostgresNIO
import Foundation

/// What people do to an issue once it is routed: acknowledge, comment, reassign, resolve, reopen,
/// extend a deadline, close. Each is one transaction that locks the issue (only within the
/// actor's scope: outside it the issue is "not found" and nothing changes), checks the actor's
/// right, the version the caller saw and the transition, moves the deadlines and the next
/// escalation step, and writes an event naming the actor.
///
/// The issue's row lock orders each action against the escalator: an escalation is either
/// recorded before an acknowledgement (and stays in the history) or sees the acknowledged issue
/// and does not fire.
public struct LifecycleStore: Sendable {
    public let client: PostgresClient
    public let cache: RoutingTableCache

    public init(client: PostgresClient, cache: RoutingTableCache) {
        self.client = client
        self.cache = cache
    }

    public enum Action: Sendable, Equatable {
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
        var from: Set<IssueState> {
            switch self {
            case .acknowledge: return [.routed]
            case .comment: return Set(IssueState.allCases)
            case .reassign: return [.routed, .acknowledged, .reopened]
            case .resolve: return [.routed, .acknowledged, .reopened]
            case .reopen: return [.resolved]
            case .extend(let clock, _, _): return clock == .acknowledge ? [.routed] : [.routed, .acknowledged, .reopened]
            case .close: return [.resolved]
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

    public enum ActionError: Error, Sendable, Equatable {
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

    private struct Locked {
        var state: IssueState
        var sector: String
        var severity: Severity
        var chain: String?
        var level: Int
        var acknowledgeDue: Date?
        var resolveDue: Date?
        var now: Date
        var revision: Int64
        var version: Int
        var agencies: [String]
    }

    /// Applies `action` by `actor` (within its scope); returns the issue's new state and version.
    ///
    /// `expectedVersion` (If-Match) makes the action apply only to that version of the issue.
    @discardableResult
    public func perform(_ action: Action, issue id: Int64, actor: Actor, expectedVersion: Int? = nil,
                        logger: Logger) async throws -> (state: IssueState, version: Int) {
        try await client.inTransaction(logger: logger) { connection in
            var locked: Locked?
            var binds = PostgresBindings()
            binds.append(id)
            let inScope = ScopeSQL.condition(actor, binds: &binds)
            let select = PostgresQuery(unsafeSQL: """
                SELECT i.state, i.sector_code, i.severity, i.chain_code, i.escalation_level, i.acknowledge_due_at,
                       i.resolve_due_at, now(), m.revision, i.version,
                       ARRAY(SELECT target_code FROM escalated.assignments WHERE issue_id = i.id AND target_kind = 'agency' AND role = 'agency')
                  FROM escalated.issues i, escalated.directory_meta m WHERE i.id = $1 AND \(inScope) FOR UPDATE OF i
                """, binds: binds)
            for try await (state, sector, severity, chain, level, ack, resolve, now, revision, version, agencies) in try await connection.query(select, logger: logger)
                .decode((String, String, String, String?, Int, Date?, Date?, Date, Int64, Int, [String]).self) {
                locked = Locked(state: IssueState(rawValue: state) ?? .reported, sector: sector, severity: Severity(rawValue: severity) ?? .normal,
                                chain: chain, level: level, acknowledgeDue: ack, resolveDue: resolve, now: now, revision: revision,
                                version: version, agencies: agencies)
            }
            guard let issue = locked else { throw ActionError.notFound }
            guard actor.may(action.operation) else { throw ActionError.forbidden(actor.kind) }
            if let expectedVersion, expectedVersion != issue.version { throw ActionError.staleVersion(current: issue.version) }
            // An agency acts only on what it is responsible for now (one it handed over, it may still read and comment on).
            if actor.kind == .agency, action.operation != .comment, let code = actor.code, !issue.agencies.contains(code) {
                throw ActionError.notResponsible(current: issue.agencies)
            }
            let allowed = action.from
            guard allowed.contains(issue.state) else {
                throw ActionError.conflict(state: issue.state, allowed: IssueState.allCases.filter(allowed.contains))
            }
            let policy = try await cache.compiled(revision: issue.revision, connection: connection, logger: logger).policy
            let time = policy.time(sector: issue.sector, severity: issue.severity)
            let chain = issue.chain.flatMap { policy.chain($0) }
            /// The sector's time for `clock`, counted from now (nil when the sector sets none).
            func restarted(_ clock: DeadlineClock) -> Date? {
                guard let deadlines = policy.deadlines(sector: issue.sector, severity: issue.severity) else { return nil }
                return time.due(from: issue.now, seconds: clock == .acknowledge ? deadlines.acknowledgeSeconds : deadlines.resolveSeconds)
            }
            func step(missing deadline: Date?) -> EscalationStep? {
                deadline.flatMap { chain?.step(afterMissing: $0, firedLevel: issue.level, time: time) }
            }

            var change = Change(state: issue.state, acknowledgeDue: issue.acknowledgeDue, resolveDue: issue.resolveDue)
            var data: [String: String] = [:]
            var newAgency: String?
            let kind: String
            switch action {
            case .comment(let commentKind, let text):
                kind = "commented"
                change.keepEscalation = true
                change.keepDeadlines = true
                data["kind"] = commentKind.rawValue
                data["text"] = text
            case .reassign(let agency, let reason):
                kind = "reassigned"
                guard !issue.agencies.contains(agency) else { throw ActionError.alreadyAssigned(agency) }
                guard policy.knowsAgency(agency) else { throw ActionError.unknownAgency(agency) }
                // The new agency starts afresh: it must acknowledge, on the sector's time from now.
                change.state = .routed
                change.unacknowledged = true
                change.acknowledgeDue = restarted(.acknowledge) ?? change.acknowledgeDue
                change.due = change.acknowledgeDue
                change.next = step(missing: change.acknowledgeDue)
                newAgency = agency
                if let from = issue.agencies.first { data["from"] = from }
                data["to"] = agency
                data["reason"] = reason
            case .acknowledge:
                kind = "acknowledged"
                change.state = .acknowledged
                change.acknowledged = true
                change.due = issue.resolveDue
                change.next = step(missing: issue.resolveDue)
            case .resolve(let resolution):
                kind = "resolved"
                change.state = .resolved
                change.resolved = true
                data["resolution"] = resolution
            case .reopen(let reason):
                kind = "reopened"
                change.state = .reopened
                change.reopened = true
                change.resolveDue = restarted(.resolve) ?? change.resolveDue
                change.due = change.resolveDue
                change.next = step(missing: change.resolveDue)
                data["reason"] = reason
            case .extend(let clock, let seconds, let reason):
                kind = "deadline_extended"
                let old = clock == .acknowledge ? issue.acknowledgeDue : issue.resolveDue
                guard let old, let new = time.due(from: old, seconds: seconds) else { throw ActionError.noDeadline(clock) }
                if clock == .acknowledge { change.acknowledgeDue = new } else { change.resolveDue = new }
                // Only the running deadline moves the chain: the acknowledgement one while unacknowledged.
                let running: DeadlineClock = issue.state == .routed ? .acknowledge : .resolve
                if clock == running {
                    change.due = new
                    change.next = step(missing: new)
                } else {
                    change.keepEscalation = true
                    change.due = issue.state == .routed ? issue.acknowledgeDue : issue.resolveDue
                }
                data["deadline"] = clock.rawValue
                data["from"] = RoutingStore.timestamp(old)
                data["to"] = RoutingStore.timestamp(new)
                data["by"] = DurationText.format(seconds: seconds)
                data["reason"] = reason
            case .close:
                kind = "closed"
                change.state = .closed
            }
            let eventData = String(decoding: try JSONEncoder().encode(data), as: UTF8.self)
            let bump = change.keepDeadlines ? 0 : 1
            if let newAgency {
                let channels = policy.channels(Notified(kind: .agency, code: newAgency)).map(\.rawValue)
                try await connection.query("""
                    WITH former AS (
                        -- The agency handing over keeps seeing the issue (as a watcher), no longer acting on it.
                        UPDATE escalated.assignments SET role = 'watcher' WHERE issue_id = \(id) AND target_kind = 'agency' AND role = 'agency'
                    ), added AS (
                        INSERT INTO escalated.assignments (issue_id, target_kind, target_code, role)
                        VALUES (\(id), 'agency', \(newAgency), 'agency')
                        ON CONFLICT (issue_id, target_kind, target_code) DO UPDATE SET role = 'agency', rule_id = NULL, assigned_at = clock_timestamp()
                    ), e AS (
                        INSERT INTO escalated.events (issue_id, kind, actor, data) VALUES (\(id), 'reassigned', \(actor.description), \(eventData)::jsonb)
                        RETURNING id, data
                    ), notes AS (
                        INSERT INTO escalated.outbox (issue_id, event_id, kind, recipient_kind, recipient_code, data, channel, state, last_answer)
                        SELECT \(id), e.id, 'routed', 'agency', \(newAgency), e.data, ch, \(unescaped: OutboxSQL.stateAndAnswer(channel: "ch"))
                          FROM e, unnest(\(channels.isEmpty ? ["none"] : channels)::text[]) AS ch
                        RETURNING channel
                    )
                    SELECT pg_notify('escalated_wakeup', 'outbox') FROM notes WHERE channel <> 'none' LIMIT 1
                    """, logger: logger)
            }
            let rows = try await connection.query("""
                WITH u AS (
                    UPDATE escalated.issues SET
                        state = \(change.state.rawValue),
                        version = version + \(bump),
                        updated_at = CASE WHEN \(bump) = 1 THEN clock_timestamp() ELSE updated_at END,
                        acknowledged_at = CASE WHEN \(change.acknowledged) THEN now() WHEN \(change.unacknowledged) THEN NULL ELSE acknowledged_at END,
                        resolved_at = CASE WHEN \(change.resolved) THEN now() WHEN \(change.reopened) THEN NULL ELSE resolved_at END,
                        acknowledge_due_at = \(change.acknowledgeDue),
                        resolve_due_at = \(change.resolveDue),
                        due_at = CASE WHEN \(change.keepDeadlines) THEN due_at ELSE \(change.due) END,
                        next_escalation_at = CASE WHEN \(change.keepEscalation) THEN next_escalation_at ELSE \(change.next?.at) END,
                        next_level = CASE WHEN \(change.keepEscalation) THEN next_level ELSE \(change.next?.level) END,
                        next_repeat = CASE WHEN \(change.keepEscalation) THEN next_repeat ELSE \(change.next?.repeatIndex) END,
                        next_level_start = CASE WHEN \(change.keepEscalation) THEN next_level_start ELSE \(change.next?.levelStart) END
                     WHERE id = \(id)
                    RETURNING next_escalation_at, version
                ), e AS (
                    INSERT INTO escalated.events (issue_id, kind, actor, data)
                    SELECT \(id), \(kind), \(actor.description), \(eventData)::jsonb WHERE \(newAgency == nil)
                ), wake AS (
                    SELECT pg_notify('escalated_wakeup', 'deadlines') FROM u WHERE next_escalation_at < now() + interval '1 minute'
                )
                SELECT version, (SELECT count(*) FROM wake) FROM u
                """, logger: logger).decode((Int, Int64).self)
            var version = issue.version + bump
            for try await (stored, _) in rows { version = stored }
            return (change.state, version)
        }
    }

    private struct Change {
        var state: IssueState
        var acknowledgeDue: Date?
        var resolveDue: Date?
        var due: Date?
        var next: EscalationStep?
        var acknowledged = false
        var resolved = false
        var reopened = false
        /// A new agency: the acknowledgement is to be made again.
        var unacknowledged = false
        /// Leave the pending escalation step as it is.
        var keepEscalation = false
        /// Change neither deadlines nor the version (a comment).
        var keepDeadlines = false

        init(state: IssueState, acknowledgeDue: Date?, resolveDue: Date?) {
            self.state = state
            self.acknowledgeDue = acknowledgeDue
            self.resolveDue = resolveDue
        }
    }
}
