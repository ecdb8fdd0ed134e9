public import EscalationCore
public import Logging
import PostgresNIO
import Foundation

/// What people do to an issue once it is routed, as transactions: each locks the issue (only
/// within the actor's scope: outside it the issue is "not found" and nothing changes), reads
/// its ``IssueSnapshot``, lets ``IssueLifecycle`` decide, and writes the ``IssueChange`` (the
/// issue, the event naming the actor, a new agency's assignment, the messages) in one statement.
///
/// The issue's row lock orders each action against the escalator: an escalation is either
/// recorded before an acknowledgement (and stays in the history) or sees the acknowledged issue
/// and does not fire.
public struct LifecycleStore: Sendable {
    public let client: Database
    public let cache: RoutingTableCache

    public init(client: Database, cache: RoutingTableCache) {
        self.client = client
        self.cache = cache
    }

    /// The person behind an action taken in the web app: their account, named in the event.
    public struct Person: Sendable, Equatable {
        public var accountID: Int64
        public var name: String

        public init(accountID: Int64, name: String) {
            self.accountID = accountID
            self.name = name
        }
    }

    /// Applies `action` by `actor` (within its scope); returns the issue's new state and version.
    ///
    /// `expectedVersion` (If-Match, or the version a web form was rendered with) makes the action
    /// apply only to that version of the issue. `person` names who acted, when a signed-in person
    /// did (the event keeps the account's id and name beside the scope).
    /// Refusals throw ``IssueActionError`` and change nothing.
    @discardableResult
    public func perform(_ action: IssueAction, issue id: Int64, actor: Actor, person: Person? = nil, expectedVersion: Int? = nil,
                        logger: Logger) async throws -> (state: IssueState, version: Int) {
        try await client.inTransaction(logger: logger) { connection in
            guard let (issue, now, revision, created) = try await Self.lock(id, actor: actor, connection: connection, logger: logger) else {
                throw IssueActionError.notFound
            }
            let policy = try await cache.compiled(revision: revision, connection: connection, logger: logger).policy
            let change = try IssueLifecycle.apply(action, to: issue, actor: actor, expectedVersion: expectedVersion, policy: policy, now: now)
            // Time taken, counted as the deadlines count it, for the reports.
            let counted = policy.time(sector: issue.sector, severity: issue.severity)
            let worked = counted.workingSeconds(from: created, to: now)
            let version = try await Self.write(change, issue: id, actor: actor, person: person, worked: worked,
                                               connection: connection, logger: logger)
            return (change.state, version ?? issue.version + (change.bumpsVersion ? 1 : 0))
        }
    }

    /// Locks the issue within `actor`'s scope and reads it, with the database's clock and the
    /// directory revision; nil when there is no such issue in the scope.
    private static func lock(_ id: Int64, actor: Actor, connection: PostgresConnection,
                             logger: Logger) async throws -> (IssueSnapshot, Date, Int64, Date)? {
        var binds = PostgresBindings()
        binds.append(id)
        let inScope = ScopeSQL.condition(actor, binds: &binds)
        let select = PostgresQuery(unsafeSQL: """
            SELECT i.state, i.sector_code, i.severity, i.chain_code, i.escalation_level, i.acknowledge_due_at,
                   i.resolve_due_at, now(), m.revision, i.version,
                   ARRAY(SELECT target_code FROM escalated.assignments WHERE issue_id = i.id AND target_kind = 'agency' AND role = 'agency'),
                   i.unit_code, (SELECT target_code FROM escalated.assignments WHERE issue_id = i.id AND role = 'member' LIMIT 1),
                   i.created_at
              FROM escalated.issues i, escalated.directory_meta m WHERE i.id = $1 AND \(inScope) FOR UPDATE OF i
            """, binds: binds)
        for try await (state, sector, severity, chain, level, ack, resolve, now, revision, version, agencies, unit, member, created)
                in try await connection.query(select, logger: logger)
            .decode((IssueState, String, Severity, String?, Int, Date?, Date?, Date, Int64, Int, [String], String, String?, Date).self) {
            let snapshot = IssueSnapshot(state: state, sector: sector, severity: severity, chain: chain, level: level,
                                         acknowledgeDue: ack, resolveDue: resolve, version: version, agencies: agencies,
                                         unit: unit, member: member)
            return (snapshot, now, revision, created)
        }
        return nil
    }

    /// Writes a decided change in one statement; returns the stored version.
    ///
    /// The statement holds only the parts the change needs: the handover of a reassignment and
    /// the outbox rows are left out of the others (every action is planned anew, and the
    /// acknowledgement is the hot path). The parameters are bound in one fixed order ($1 to $27)
    /// whichever parts are present.
    private static func write(_ change: IssueChange, issue id: Int64, actor: Actor, person: Person?, worked: Int, connection: PostgresConnection,
                              logger: Logger) async throws -> Int? {
        var kinds: [String] = [], recipientKinds: [String] = [], recipientCodes: [String] = [], channels: [String] = []
        for note in change.notifications {
            for channel in OutboxSQL.channelValues(note.channels) {
                kinds.append(note.kind)
                recipientKinds.append(note.recipient.kind.rawValue)
                recipientCodes.append(note.recipient.code)
                channels.append(channel)
            }
        }
        var binds = PostgresBindings()
        binds.append(id)                                                        // $1
        try binds.append(change.state)                                          // $2
        binds.append(change.bumpsVersion ? 1 : 0)                               // $3
        binds.append(change.acknowledged)                                       // $4
        binds.append(change.unacknowledged)                                     // $5
        binds.append(change.resolved)                                           // $6
        binds.append(change.reopened)                                           // $7
        binds.append(change.acknowledgeDue)                                     // $8
        binds.append(change.resolveDue)                                         // $9
        binds.append(change.keepsDeadlines)                                     // $10
        binds.append(change.due)                                                // $11
        binds.append(change.keepsEscalation)                                    // $12
        binds.append(change.next?.at)                                           // $13
        binds.append(change.next?.level)                                        // $14
        binds.append(change.next?.repeatIndex)                                  // $15
        binds.append(change.next?.levelStart)                                   // $16
        binds.append(change.eventKind)                                          // $17
        binds.append(actor.description)                                         // $18
        binds.append(String(decoding: try JSONEncoder().encode(change.eventData), as: UTF8.self))  // $19
        binds.append(change.newAgency ?? "")                                    // $20 (used only with a new agency)
        binds.append(kinds)                                                     // $21
        binds.append(recipientKinds)                                            // $22
        binds.append(recipientCodes)                                            // $23
        binds.append(channels)                                                  // $24
        binds.append(person?.accountID)                                         // $25
        binds.append(person.map { String($0.name.prefix(100)) })                // $26
        binds.append(worked)                                                    // $27 (counted seconds since the report)
        var parts: [String] = []
        if change.newAgency != nil {
            parts.append("""
                former AS (
                    -- The agency handing over keeps seeing the issue (as a watcher), no longer acting on it.
                    UPDATE escalated.assignments SET role = 'watcher' WHERE issue_id = $1 AND target_kind = 'agency' AND role = 'agency'
                )
                """)
            parts.append("""
                added AS (
                    INSERT INTO escalated.assignments (issue_id, target_kind, target_code, role) VALUES ($1, 'agency', $20, 'agency')
                    ON CONFLICT (issue_id, target_kind, target_code) DO UPDATE SET role = 'agency', rule_id = NULL, assigned_at = clock_timestamp()
                )
                """)
        }
        parts.append("""
            u AS (
                UPDATE escalated.issues SET
                    state = $2,
                    version = version + $3,
                    updated_at = CASE WHEN $3 = 1 THEN clock_timestamp() ELSE updated_at END,
                    acknowledged_at = CASE WHEN $4 THEN now() WHEN $5 THEN NULL ELSE acknowledged_at END,
                    resolved_at = CASE WHEN $6 THEN now() WHEN $7 THEN NULL ELSE resolved_at END,
                    acknowledge_work_seconds = CASE WHEN $4 THEN $27::int4 WHEN $5 THEN NULL ELSE acknowledge_work_seconds END,
                    resolve_work_seconds = CASE WHEN $6 THEN $27::int4 WHEN $7 THEN NULL ELSE resolve_work_seconds END,
                    acknowledge_due_at = $8,
                    resolve_due_at = $9,
                    due_at = CASE WHEN $10 THEN due_at ELSE $11 END,
                    next_escalation_at = CASE WHEN $12 THEN next_escalation_at ELSE $13 END,
                    next_level = CASE WHEN $12 THEN next_level ELSE $14 END,
                    next_repeat = CASE WHEN $12 THEN next_repeat ELSE $15 END,
                    next_level_start = CASE WHEN $12 THEN next_level_start ELSE $16 END,
                    agency_code = CASE WHEN $20 <> '' THEN $20 ELSE agency_code END
                 WHERE id = $1
                RETURNING next_escalation_at, version
            )
            """)
        parts.append("""
            e AS (
                INSERT INTO escalated.events (issue_id, kind, actor, data, account_id, account_name)
                VALUES ($1, $17, $18, $19::jsonb, $25::int8, $26::text)
                RETURNING id, issue_id, data
            )
            """)
        if !kinds.isEmpty {
            parts.append("planned AS (SELECT * FROM unnest($21::text[], $22::text[], $23::text[], $24::text[]) AS n(kind, rk, rc, ch))")
            // A unit's messages go to each enabled account of the unit (its staff).
            parts.append("""
                n AS (
                    SELECT kind, rk, rc, ch FROM planned WHERE rk <> 'unit'
                    UNION ALL
                    SELECT p.kind, 'account', a.id::text, p.ch FROM planned p
                      JOIN escalated.accounts a ON a.scope_kind = 'unit' AND a.scope_code = p.rc AND a.disabled_at IS NULL
                     WHERE p.rk = 'unit'
                )
                """)
            // The message says who acted: the scope, and the person when one did.
            parts.append("""
                notes AS (\(OutboxSQL.insert("""
                    SELECT e.issue_id, e.id, n.kind, n.rk, n.rc,
                           e.data || jsonb_strip_nulls(jsonb_build_object('actor', $18::text, 'account_name', $26::text)), n.ch FROM e, n
                    """)))
                """)
            parts.append("wake_outbox AS (\(OutboxSQL.wakeDeliverers(after: "notes")))")
        }
        parts.append("wake AS (SELECT \(WakeTopic.deadlines.notifySQL) FROM u WHERE next_escalation_at < now() + interval '1 minute')")
        let sql = "WITH " + parts.joined(separator: ",\n") + "\nSELECT version, (SELECT count(*) FROM wake) FROM u"
        var version: Int?
        for try await (stored, _) in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            .decode((Int, Int64).self) {
            version = stored
        }
        return version
    }
}
