import EscalationCore
public import Logging
import PostgresNIO
import Foundation

/// Fires due escalation steps, each exactly once.
///
/// A batch is one transaction: claim issues whose next step is due by the database's clock
/// (`next_escalation_at <= now()`, `FOR UPDATE SKIP LOCKED`, earliest first), then in one
/// statement record each firing in `escalations` (primary key issue, level, repeat), its
/// `escalated` event and its outbox rows, and move the issue to its next step. A crash before
/// COMMIT leaves every claimed step due; the key makes a second firing impossible.
public struct EscalatorStore: Sendable {
    public let client: Database
    public let cache: RoutingTableCache
    /// Names this escalator in what it records.
    public let instance: String

    public init(client: Database, cache: RoutingTableCache, instance: String) {
        self.client = client
        self.cache = cache
        self.instance = instance
    }

    public struct BatchResult: Sendable, Equatable {
        public var claimed = 0
        public var fired = 0
    }

    /// Seconds until the earliest pending step by the database's clock (negative when already
    /// due), or nil when nothing is pending. One index probe, whatever the number of open issues.
    public func secondsUntilNextStep(logger: Logger) async throws -> Double? {
        try await client.withConnection { connection in
            var result: Double?
            for try await value in try await connection.execute(NextStepDelay(), logger: logger) { result = value }
            return result
        }
    }

    /// Fires up to `limit` due steps in one transaction. `hold` is a test hook awaited after the claim.
    public func fireBatch(limit: Int, hold: (@Sendable () async -> Void)? = nil, logger: Logger) async throws -> BatchResult {
        try await client.inTransaction(logger: logger) { connection in
            var claimed: [ClaimDue.Decoded] = []
            var revision: Int64 = 0
            for try await row in try await connection.execute(ClaimDue(limit: limit), logger: logger) {
                claimed.append(ClaimDue.Decoded(row))
                revision = row.10
            }
            var result = BatchResult(claimed: claimed.count)
            guard !claimed.isEmpty else { return result }
            if let hold { await hold() }
            let policy = try await cache.compiled(revision: revision, connection: connection, logger: logger).policy
            var write = RecordEscalations(escalator: instance)
            for issue in claimed {
                let step = EscalationStep(level: issue.level, repeatIndex: issue.repeatIndex, at: issue.at, levelStart: issue.levelStart)
                let chain = issue.chain.flatMap { policy.chain($0) }
                let time = policy.time(sector: issue.sector, severity: issue.severity)
                // A chain removed or shortened since the step was planned: nothing left to fire.
                let exists = chain.map { issue.level <= $0.levels.count } ?? false
                let notified = (exists ? policy.recipients(chain: issue.chain ?? "", level: issue.level, agency: issue.agency, member: issue.member) : [])
                    .map { ($0, policy.channels($0)) }
                let next = exists ? chain?.step(after: step, time: time) : nil
                write.append(
                    id: issue.id, step: step, fire: exists, clock: issue.clock, chain: issue.chain ?? "",
                    notified: notified, next: next)
            }
            for try await (fired, _) in try await connection.execute(write, logger: logger) { result.fired = fired }
            return result
        }
    }
}

/// Seconds from now to the earliest pending step.
struct NextStepDelay: PostgresPreparedStatement {
    static let name = "escalated_next_step_delay_v1"
    static let sql = """
        SELECT extract(epoch FROM (min(next_escalation_at) - clock_timestamp()))::float8
          FROM escalated.issues WHERE next_escalation_at IS NOT NULL
        """
    typealias Row = Double?
    func makeBindings() throws -> PostgresBindings { PostgresBindings() }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Double?.self) }
}

/// Due steps, earliest first, with what the escalator needs to fire them.
struct ClaimDue: LimitedStatement {
    static let name = "escalated_claim_due_v1"
    static let sql = """
        WITH c AS (
            SELECT id, sector_code, severity, chain_code, state, next_level, next_repeat, next_escalation_at, next_level_start
              FROM escalated.issues
             WHERE next_escalation_at <= now()
             ORDER BY next_escalation_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        SELECT c.id, c.sector_code, c.severity, c.chain_code, c.state, c.next_level, c.next_repeat,
               c.next_escalation_at, c.next_level_start,
               (SELECT array_agg(a.role || ':' || a.target_code) FROM escalated.assignments a
                 WHERE a.issue_id = c.id AND a.role IN ('agency', 'member')),
               m.revision
          FROM c, escalated.directory_meta m
        """
    typealias Row = (Int64, String, Severity, String?, IssueState, Int, Int, Date, Date, [String]?, Int64)
    var limit: Int

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }

    struct Decoded {
        var id: Int64
        var sector: String
        var severity: Severity
        var chain: String?
        /// Which deadline was missed: acknowledgement while unacknowledged, else resolution.
        var clock: DeadlineClock
        var level: Int
        var repeatIndex: Int
        var at: Date
        var levelStart: Date
        var agency: String?
        var member: String?

        init(_ r: Row) {
            id = r.0
            sector = r.1
            severity = r.2
            chain = r.3
            clock = r.4 == .routed ? .acknowledge : .resolve
            level = r.5
            repeatIndex = r.6
            at = r.7
            levelStart = r.8
            for target in r.9 ?? [] {
                if target.hasPrefix("agency:") { agency = String(target.dropFirst(7)) }
                if target.hasPrefix("member:") { member = String(target.dropFirst(7)) }
            }
        }
    }
}

/// Records a batch of firings and moves each issue to its next step, in one statement.
///
/// `escalations` takes each (issue, level, repeat) once: a step already recorded is not recorded
/// again, and its event and outbox rows are not written again; the issue still moves on.
/// Returns how many steps were recorded. Recipients without an address get a dead outbox row
/// saying so, visible to operators.
struct RecordEscalations: PostgresPreparedStatement {
    static let name = "escalated_record_escalations_v2"
    static let sql = """
        WITH f AS (
            SELECT * FROM unnest($2::bigint[], $3::int[], $4::int[], $5::float8[], $6::text[], $7::text[], $8::text[], $9::bool[],
                                 $10::float8[], $11::int[], $12::int[], $13::float8[])
                AS f(id, level, rep, due, clock, chain, notified, fire, next_at, next_level, next_repeat, next_start)
        ),
        ins AS (
            INSERT INTO escalated.escalations (issue_id, level, repeat, clock, due_at, escalator, notified)
            SELECT id, level, rep, clock, to_timestamp(due), $1, notified::jsonb FROM f WHERE fire
            ON CONFLICT DO NOTHING
            RETURNING issue_id, due_at, fired_at
        ),
        moved AS (
            UPDATE escalated.issues i
               SET escalation_level = CASE WHEN f.fire THEN greatest(i.escalation_level, f.level) ELSE i.escalation_level END,
                   next_escalation_at = to_timestamp(nullif(f.next_at, 0)),
                   next_level = nullif(f.next_level, 0),
                   next_repeat = CASE WHEN f.next_at <> 0 THEN f.next_repeat END,
                   next_level_start = to_timestamp(nullif(f.next_start, 0)),
                   updated_at = clock_timestamp()
              FROM f WHERE i.id = f.id
        ),
        ev AS (
            INSERT INTO escalated.events (issue_id, kind, actor, data)
            SELECT f.id, 'escalated', 'escalator',
                   jsonb_build_object('level', f.level, 'repeat', f.rep, 'clock', f.clock, 'chain', f.chain,
                                      'due_at', ins.due_at, 'late_ms', round(extract(epoch FROM ins.fired_at - ins.due_at) * 1000),
                                      'notified', f.notified::jsonb, 'escalator', $1::text)
              FROM f JOIN ins ON ins.issue_id = f.id
            RETURNING id, issue_id, data
        ),
        outbox AS (\(OutboxSQL.insert("""
            SELECT ev.issue_id, ev.id, CASE WHEN (ev.data->>'repeat')::int = 0 THEN 'escalated' ELSE 'reminder' END,
                   r.kind, r.code, ev.data, c.channel
              FROM ev, jsonb_to_recordset(ev.data->'notified') AS r(kind text, code text, channels text[]),
                   LATERAL unnest(\(OutboxSQL.channelsOrNone("r.channels"))) AS c(channel)
            """))),
        wake_outbox AS (\(OutboxSQL.wakeDeliverers(after: "outbox")))
        SELECT (SELECT count(*) FROM ins)::int8, (SELECT count(*) FROM wake_outbox)::int8
        """
    /// Steps recorded, and whether deliverers were woken.
    typealias Row = (Int, Int)

    var escalator: String
    var ids: [Int64] = []
    var levels: [Int32] = []
    var repeats: [Int32] = []
    var due: [Double] = []
    var clocks: [String] = []
    var chains: [String] = []
    var notified: [String] = []
    var fire: [Bool] = []
    var nextAt: [Double] = []
    var nextLevels: [Int32] = []
    var nextRepeats: [Int32] = []
    var nextStarts: [Double] = []

    init(escalator: String) {
        self.escalator = escalator
    }

    mutating func append(id: Int64, step: EscalationStep, fire: Bool, clock: DeadlineClock, chain: String,
                         notified: [(Notified, [DeliveryChannel])], next: EscalationStep?) {
        ids.append(id)
        levels.append(Int32(step.level))
        repeats.append(Int32(step.repeatIndex))
        due.append(step.at.timeIntervalSince1970)
        clocks.append(clock.rawValue)
        chains.append(chain)
        self.notified.append("[" + notified.map { recipient, channels in
            let list = channels.map { "\"\($0.rawValue)\"" }.joined(separator: ",")
            return #"{"kind":"\#(recipient.kind.rawValue)","code":\#(QuotedString.literal(recipient.code)),"channels":[\#(list)]}"#
        }.joined(separator: ",") + "]")
        self.fire.append(fire)
        nextAt.append(next?.at.timeIntervalSince1970 ?? 0)
        nextLevels.append(Int32(next?.level ?? 0))
        nextRepeats.append(Int32(next?.repeatIndex ?? 0))
        nextStarts.append(next?.levelStart.timeIntervalSince1970 ?? 0)
    }

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings()
        b.append(escalator)
        b.append(ids)
        b.append(levels)
        b.append(repeats)
        b.append(due)
        b.append(clocks)
        b.append(chains)
        b.append(notified)
        b.append(fire)
        b.append(nextAt)
        b.append(nextLevels)
        b.append(nextRepeats)
        b.append(nextStarts)
        return b
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
