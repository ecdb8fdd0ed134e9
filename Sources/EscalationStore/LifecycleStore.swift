public import EscalationCore
public import Logging
public import PostgresNIO
import Foundation

/// What people do to an issue once it is routed: acknowledge, resolve, reopen, extend a
/// deadline, close. Each is one transaction that locks the issue, checks the transition, moves
/// the deadlines and the next escalation step, and writes an event naming the actor.
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
        case resolve(resolution: String)
        case reopen(reason: String)
        case extend(deadline: DeadlineClock, bySeconds: Int, reason: String)
        case close

        public var name: String {
            switch self {
            case .acknowledge: return "acknowledge"
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
            case .resolve: return [.routed, .acknowledged, .reopened]
            case .reopen: return [.resolved]
            case .extend(let clock, _, _): return clock == .acknowledge ? [.routed] : [.routed, .acknowledged, .reopened]
            case .close: return [.resolved]
            }
        }
    }

    public enum ActionError: Error, Sendable, Equatable {
        case notFound
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
    }

    /// Applies `action` by `actor`; returns the issue's new state.
    @discardableResult
    public func perform(_ action: Action, issue id: Int64, actor: String, logger: Logger) async throws -> IssueState {
        try await client.inTransaction(logger: logger) { connection in
            var locked: Locked?
            for try await (state, sector, severity, chain, level, ack, resolve, now, revision) in try await connection.query("""
                SELECT i.state, i.sector_code, i.severity, i.chain_code, i.escalation_level, i.acknowledge_due_at,
                       i.resolve_due_at, now(), m.revision
                  FROM escalated.issues i, escalated.directory_meta m WHERE i.id = \(id) FOR UPDATE OF i
                """, logger: logger).decode((String, String, String, String?, Int, Date?, Date?, Date, Int64).self) {
                locked = Locked(state: IssueState(rawValue: state) ?? .reported, sector: sector, severity: Severity(rawValue: severity) ?? .normal,
                                chain: chain, level: level, acknowledgeDue: ack, resolveDue: resolve, now: now, revision: revision)
            }
            guard let issue = locked else { throw ActionError.notFound }
            let allowed = action.from
            guard allowed.contains(issue.state) else {
                throw ActionError.conflict(state: issue.state, allowed: IssueState.allCases.filter(allowed.contains))
            }
            let policy = try await cache.compiled(revision: issue.revision, connection: connection, logger: logger).policy
            let time = policy.time(sector: issue.sector, severity: issue.severity)
            let chain = issue.chain.flatMap { policy.chain($0) }
            func step(missing deadline: Date?) -> EscalationStep? {
                deadline.flatMap { chain?.step(afterMissing: $0, firedLevel: issue.level, time: time) }
            }

            var change = Change(state: issue.state, acknowledgeDue: issue.acknowledgeDue, resolveDue: issue.resolveDue)
            var data: [String: String] = [:]
            let kind: String
            switch action {
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
                if let seconds = policy.deadlines(sector: issue.sector, severity: issue.severity)?.resolveSeconds {
                    change.resolveDue = time.due(from: issue.now, seconds: seconds)
                }
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
            try await connection.query("""
                WITH u AS (
                    UPDATE escalated.issues SET
                        state = \(change.state.rawValue),
                        version = version + 1,
                        updated_at = clock_timestamp(),
                        acknowledged_at = CASE WHEN \(change.acknowledged) THEN now() ELSE acknowledged_at END,
                        resolved_at = CASE WHEN \(change.resolved) THEN now() WHEN \(change.reopened) THEN NULL ELSE resolved_at END,
                        acknowledge_due_at = \(change.acknowledgeDue),
                        resolve_due_at = \(change.resolveDue),
                        due_at = \(change.due),
                        next_escalation_at = CASE WHEN \(change.keepEscalation) THEN next_escalation_at ELSE \(change.next?.at) END,
                        next_level = CASE WHEN \(change.keepEscalation) THEN next_level ELSE \(change.next?.level) END,
                        next_repeat = CASE WHEN \(change.keepEscalation) THEN next_repeat ELSE \(change.next?.repeatIndex) END,
                        next_level_start = CASE WHEN \(change.keepEscalation) THEN next_level_start ELSE \(change.next?.levelStart) END
                     WHERE id = \(id)
                    RETURNING next_escalation_at
                ), e AS (
                    INSERT INTO escalated.events (issue_id, kind, actor, data) VALUES (\(id), \(kind), \(actor), \(eventData)::jsonb)
                )
                SELECT pg_notify('escalated_wakeup', 'deadlines') FROM u WHERE next_escalation_at < now() + interval '1 minute'
                """, logger: logger)
            return change.state
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
        /// Leave the pending escalation step as it is.
        var keepEscalation = false

        init(state: IssueState, acknowledgeDue: Date?, resolveDue: Date?) {
            self.state = state
            self.acknowledgeDue = acknowledgeDue
            self.resolveDue = resolveDue
        }
    }
}
