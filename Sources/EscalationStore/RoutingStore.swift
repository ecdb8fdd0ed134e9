public import EscalationCore
public import Logging
public import PostgresNIO
import Foundation
import Synchronization

/// The directory compiled for routing and escalation, reloaded when its revision changes.
public final class RoutingTableCache: Sendable {
    /// What one directory revision compiles to.
    public struct Compiled: Sendable {
        public var table: RoutingTable
        public var policy: EscalationPolicy
        public var directory: Directory
    }

    private let state = Mutex<(revision: Int64, compiled: Compiled, at: ContinuousClock.Instant)?>(nil)

    public init() {}

    /// The cached revision, or nil before the first load.
    public var revision: Int64? { state.withLock { $0?.revision } }

    /// The compiled directory of `revision`, loading it on `connection` when the cache is older
    /// (or a day old: calendars are laid out over a window of days around the load).
    public func compiled(revision: Int64, connection: PostgresConnection, logger: Logger) async throws -> Compiled {
        if let cached = state.withLock({ $0 }), cached.revision == revision, ContinuousClock.now - cached.at < .seconds(86400) {
            return cached.compiled
        }
        let loaded = try await DirectoryStore.load(connection: connection, logger: logger)
        let compiled = Compiled(table: RoutingTable(directory: loaded.directory), policy: EscalationPolicy(directory: loaded.directory, now: Date()),
                                directory: loaded.directory)
        state.withLock { $0 = (loaded.revision, compiled, .now) }
        logger.info("directory compiled", metadata: ["directory.revision": "\(loaded.revision)"])
        return compiled
    }
}

/// Claims unrouted issues and records where each one goes, exactly once.
///
/// A batch is one transaction: claim with `FOR UPDATE SKIP LOCKED` (so routers in several
/// daemons never take the same issue), decide in the pure core, then write the new states, the
/// assignments and the events in one statement. A crash anywhere before COMMIT leaves every
/// claimed issue as it was; a unique index forbids a second `routed` event.
public struct RoutingStore: Sendable {
    public let client: PostgresClient
    public let cache: RoutingTableCache
    /// Names this router in the events it writes (which replica routed what).
    public let instance: String

    public init(client: PostgresClient, cache: RoutingTableCache = RoutingTableCache(), instance: String) {
        self.client = client
        self.cache = cache
        self.instance = instance
    }

    /// Which issues a batch claims.
    public enum Source: Sendable, Equatable {
        /// New issues (state `reported`), oldest first.
        case reported
        /// Parked issues last tried under an older directory revision than the current one.
        case unroutable
    }

    /// What one batch did.
    public struct BatchResult: Sendable, Equatable {
        public var claimed: Int = 0
        public var routed: Int = 0
        public var unroutable: Int = 0
        /// The directory revision the batch routed with, when it claimed anything.
        public var revision: Int64?
    }

    /// Routes up to `limit` issues from `source` in one transaction.
    ///
    /// `hold`, when set, is awaited inside the transaction after the claim: a test hook to keep a
    /// batch open while a test kills the process. Leave it nil in production.
    public func routeBatch(
        from source: Source,
        limit: Int,
        hold: (@Sendable () async -> Void)? = nil,
        logger: Logger
    ) async throws -> BatchResult {
        try await client.inTransaction(logger: logger) { connection in
            var claimed: [Claimed] = []
            var revision: Int64 = 0
            let rows: AsyncThrowingMapSequence<PostgresRowSequence, ClaimStatement.Row>
            switch source {
            case .reported: rows = try await connection.execute(ClaimReported(limit: limit), logger: logger)
            case .unroutable: rows = try await connection.execute(ClaimUnroutable(limit: limit), logger: logger)
            }
            for try await (id, unit, sector, severity, created, rev) in rows {
                claimed.append(Claimed(id: id, input: RoutingInput(unit: unit, sector: sector, severity: Severity(rawValue: severity) ?? .normal), reportedAt: created))
                revision = rev
            }
            var result = BatchResult(claimed: claimed.count)
            guard !claimed.isEmpty else { return result }
            result.revision = revision
            if let hold { await hold() }

            let compiled = try await cache.compiled(revision: revision, connection: connection, logger: logger)
            let (record, decided) = Self.decide(claimed, compiled: compiled, revision: revision, router: instance)
            result.routed = decided.routed
            result.unroutable = decided.unroutable
            _ = try await connection.execute(record, logger: logger)
            return result
        }
    }

    /// Routes up to `limit` new issues in two round trips and no explicit transaction: the latency path.
    ///
    /// It reads without locking, decides, then writes in one statement that locks the issues it
    /// writes (`FOR UPDATE SKIP LOCKED`) and only those still `reported`; an issue another router
    /// routed or holds meanwhile is left to it. `claimed` counts what was read (a full read means a
    /// backlog), `routed` and `unroutable` what this call wrote.
    public func routeOptimistically(limit: Int, logger: Logger) async throws -> BatchResult {
        try await client.withConnection { connection in
            var claimed: [Claimed] = []
            var revision: Int64 = 0
            for try await (id, unit, sector, severity, created, rev) in try await connection.execute(PeekReported(limit: limit), logger: logger) {
                claimed.append(Claimed(id: id, input: RoutingInput(unit: unit, sector: sector, severity: Severity(rawValue: severity) ?? .normal), reportedAt: created))
                revision = rev
            }
            var result = BatchResult(claimed: claimed.count)
            guard !claimed.isEmpty else { return result }
            result.revision = revision
            let compiled = try await cache.compiled(revision: revision, connection: connection, logger: logger)
            let (record, _) = Self.decide(claimed, compiled: compiled, revision: revision, router: instance)
            for try await (routed, unroutable, _) in try await connection.execute(RecordRoutingIfReported(record), logger: logger) {
                result.routed = routed
                result.unroutable = unroutable
            }
            return result
        }
    }

    /// An issue read for routing.
    struct Claimed {
        var id: Int64
        var input: RoutingInput
        var reportedAt: Date
    }

    /// The decisions for a claimed batch, as the bindings of the write statement: routes, and for
    /// routed issues their deadlines and first escalation step, counted from the report.
    static func decide(
        _ claimed: [Claimed], compiled: RoutingTableCache.Compiled, revision: Int64, router: String
    ) -> (RecordRouting, (routed: Int, unroutable: Int)) {
        var record = RecordRouting(
            revision: revision, issueIDs: [], outcomes: [], eventData: [],
            assignmentIssues: [], assignmentKinds: [], assignmentCodes: [], assignmentRoles: [], assignmentRules: [],
            acknowledgeDue: [], resolveDue: [], chains: [], nextEscalation: []
        )
        record.issueIDs.reserveCapacity(claimed.count)
        var counts = (routed: 0, unroutable: 0)
        for item in claimed {
            let id = item.id, input = item.input
            record.issueIDs.append(id)
            let outcome = compiled.table.route(input)
            let plan: DeadlinePlan? = if case .routed = outcome {
                compiled.policy.plan(sector: input.sector, severity: input.severity, reportedAt: item.reportedAt)
            } else {
                nil
            }
            record.acknowledgeDue.append(plan.map { $0.acknowledgeDue.timeIntervalSince1970 } ?? 0)
            record.resolveDue.append(plan.map { $0.resolveDue.timeIntervalSince1970 } ?? 0)
            record.chains.append(plan?.chain ?? "")
            record.nextEscalation.append(plan?.firstStep.map { $0.at.timeIntervalSince1970 } ?? 0)
            switch outcome {
            case .routed(let assignments):
                record.outcomes.append(IssueState.routed.rawValue)
                record.eventData.append(routedEventJSON(assignments, revision: revision, router: router, plan: plan))
                for a in assignments where a.role == .agency {
                    let channels = compiled.policy.channels(Notified(kind: a.targetKind, code: a.targetCode))
                    for channel in channels.isEmpty ? ["none"] : channels.map(\.rawValue) {
                        record.noteIssues.append(id)
                        record.noteKinds.append(a.targetKind.rawValue)
                        record.noteCodes.append(a.targetCode)
                        record.noteChannels.append(channel)
                    }
                }
                for a in assignments {
                    record.assignmentIssues.append(id)
                    record.assignmentKinds.append(a.targetKind.rawValue)
                    record.assignmentCodes.append(a.targetCode)
                    record.assignmentRoles.append(a.role.rawValue)
                    record.assignmentRules.append(a.ruleID ?? "")
                }
                counts.routed += 1
            case .unroutable(let reason):
                record.outcomes.append(IssueState.unroutable.rawValue)
                record.eventData.append(unroutableEventJSON(reason, revision: revision, router: router))
                counts.unroutable += 1
            }
        }
        return (record, counts)
    }

    static func routedEventJSON(_ assignments: [Assignment], revision: Int64, router: String, plan: DeadlinePlan? = nil) -> String {
        let targets = assignments.map { a in
            var fields = #"{"kind":"\#(a.targetKind.rawValue)","code":\#(jsonString(a.targetCode)),"role":"\#(a.role.rawValue)""#
            if let rule = a.ruleID { fields += #","rule":\#(jsonString(rule))"# }
            return fields + "}"
        }
        var json = #"{"directory_revision":\#(revision),"router":\#(jsonString(router)),"assignments":[\#(targets.joined(separator: ","))]"#
        if let plan {
            json += #","acknowledge_due_at":"\#(timestamp(plan.acknowledgeDue))","resolve_due_at":"\#(timestamp(plan.resolveDue))""#
            if let chain = plan.chain { json += #","chain":\#(jsonString(chain))"# }
        }
        return json + "}"
    }

    /// RFC 3339 in UTC with milliseconds, as events carry instants.
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    static func unroutableEventJSON(_ reason: String, revision: Int64, router: String) -> String {
        #"{"directory_revision":\#(revision),"router":\#(jsonString(router)),"reason":\#(jsonString(reason))}"#
    }

    /// A JSON string literal (quotes, backslashes and control characters escaped).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

// The routing statements are named prepared statements: parsed and planned once per connection,
// which matters at steady load, where every batch holds one issue.

/// The row shape every claim returns: id, unit, sector, severity, reported at, directory revision.
enum ClaimStatement {
    typealias Row = (Int64, String, String, String, Date, Int64)
}

/// A statement whose only parameter is how many rows to take.
protocol LimitedStatement: PostgresPreparedStatement {
    var limit: Int { get }
}

extension LimitedStatement {
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(Int64(limit))
        return bindings
    }
}

/// A claim or read of up to `limit` issues; they differ only in their SQL.
protocol ClaimQuery: LimitedStatement where Row == ClaimStatement.Row {}

extension ClaimQuery {
    func decodeRow(_ row: PostgresRow) throws -> ClaimStatement.Row { try row.decode(ClaimStatement.Row.self) }
}

/// New issues, oldest first, skipping those another router holds.
struct ClaimReported: ClaimQuery {
    static let name = "escalated_claim_reported_v2"
    static let sql = """
        WITH c AS (
            SELECT id, unit_code, sector_code, severity, created_at FROM escalated.issues
             WHERE state = 'reported' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        SELECT c.id, c.unit_code, c.sector_code, c.severity, c.created_at, m.revision FROM c, escalated.directory_meta m
        """
    var limit: Int
}

/// Parked issues last tried under an older directory revision.
struct ClaimUnroutable: ClaimQuery {
    static let name = "escalated_claim_unroutable_v2"
    static let sql = """
        WITH c AS (
            SELECT id, unit_code, sector_code, severity, created_at FROM escalated.issues
             WHERE state = 'unroutable' AND route_revision < (SELECT revision FROM escalated.directory_meta)
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        SELECT c.id, c.unit_code, c.sector_code, c.severity, c.created_at, m.revision FROM c, escalated.directory_meta m
        """
    var limit: Int
}

/// The parts both routing writes share: decisions from arrays, the issue update, the inserts.
enum RoutingSQL {
    /// Instants travel as seconds since 1970, 0 for none.
    static let decisions = """
        SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $10::float8[], $11::float8[], $12::text[], $13::float8[])
            AS d(id, outcome, data, ack, resolve, chain, next)
        """
    static let setOutcome = """
        SET state = d.outcome,
            routed_at = CASE WHEN d.outcome = 'routed' THEN clock_timestamp() END,
            route_revision = $1,
            version = i.version + 1,
            updated_at = clock_timestamp(),
            acknowledge_due_at = to_timestamp(nullif(d.ack, 0)),
            resolve_due_at = to_timestamp(nullif(d.resolve, 0)),
            due_at = to_timestamp(nullif(d.ack, 0)),
            chain_code = nullif(d.chain, ''),
            next_escalation_at = to_timestamp(nullif(d.next, 0)),
            next_level = CASE WHEN d.next <> 0 THEN 1 END,
            next_repeat = CASE WHEN d.next <> 0 THEN 0 END,
            next_level_start = to_timestamp(nullif(d.next, 0))
        """
    /// Escalators sleep at most a poll interval (at most a minute): a deadline set nearer than
    /// that wakes them, farther ones are found by their next look.
    static let wakeEscalators = """
        SELECT pg_notify('escalated_wakeup', 'deadlines') FROM d WHERE d.next <> 0
           AND to_timestamp(d.next) < now() + interval '1 minute' LIMIT 1
        """
    static let assignments = """
        INSERT INTO escalated.assignments (issue_id, target_kind, target_code, role, rule_id)
        SELECT a.i, a.k, a.c, a.r, nullif(a.u, '')
          FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[]) AS a(i, k, c, r, u)
        """
    /// The routing events; `join` limits them (to the issues locked by the write).
    static func events(_ join: String = "") -> String {
        "INSERT INTO escalated.events (issue_id, kind, actor, data) SELECT d.id, d.outcome, 'router', d.data::jsonb FROM d \(join) RETURNING id, issue_id, data"
    }
    /// One outbox row per channel of each routed issue's agency, beside its `routed` event.
    static let notes = """
        INSERT INTO escalated.outbox (issue_id, event_id, kind, recipient_kind, recipient_code, data, channel, state, last_answer)
        SELECT n.i, e.id, 'routed', n.k, n.c, e.data, n.ch, \(OutboxSQL.stateAndAnswer(channel: "n.ch"))
          FROM unnest($14::bigint[], $15::text[], $16::text[], $17::text[]) AS n(i, k, c, ch) JOIN events e ON e.issue_id = n.i
        RETURNING channel
        """
    static let wakeDeliverers = "SELECT pg_notify('escalated_wakeup', 'outbox') FROM notes WHERE channel <> 'none' LIMIT 1"
}

/// Writes a batch's outcome in one statement: new states, assignments and events.
struct RecordRouting: PostgresPreparedStatement {
    static let name = "escalated_record_routing_v3"
    static let sql = """
        WITH d AS (\(RoutingSQL.decisions)),
        issues AS (UPDATE escalated.issues i \(RoutingSQL.setOutcome) FROM d WHERE i.id = d.id),
        assignments AS (\(RoutingSQL.assignments)),
        events AS (\(RoutingSQL.events())),
        notes AS (\(RoutingSQL.notes)),
        wake AS (\(RoutingSQL.wakeEscalators)),
        wake_outbox AS (\(RoutingSQL.wakeDeliverers))
        SELECT (SELECT count(*) FROM wake), (SELECT count(*) FROM wake_outbox)
        """
    typealias Row = Void
    var revision: Int64
    var issueIDs: [Int64]
    var outcomes: [String]
    var eventData: [String]
    var assignmentIssues: [Int64]
    var assignmentKinds: [String]
    var assignmentCodes: [String]
    var assignmentRoles: [String]
    var assignmentRules: [String]
    var acknowledgeDue: [Double]
    var resolveDue: [Double]
    var chains: [String]
    var nextEscalation: [Double]
    var noteIssues: [Int64] = []
    var noteKinds: [String] = []
    var noteCodes: [String] = []
    var noteChannels: [String] = []

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(revision)
        bindings.append(issueIDs)
        bindings.append(outcomes)
        bindings.append(eventData)
        bindings.append(assignmentIssues)
        bindings.append(assignmentKinds)
        bindings.append(assignmentCodes)
        bindings.append(assignmentRoles)
        bindings.append(assignmentRules)
        bindings.append(acknowledgeDue)
        bindings.append(resolveDue)
        bindings.append(chains)
        bindings.append(nextEscalation)
        bindings.append(noteIssues)
        bindings.append(noteKinds)
        bindings.append(noteCodes)
        bindings.append(noteChannels)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}

/// New issues, oldest first, read without locking (the latency path decides before it locks).
struct PeekReported: ClaimQuery {
    static let name = "escalated_peek_reported_v2"
    static let sql = """
        SELECT i.id, i.unit_code, i.sector_code, i.severity, i.created_at, m.revision
          FROM escalated.issues i, escalated.directory_meta m
         WHERE i.state = 'reported' ORDER BY i.id LIMIT $1
        """
    var limit: Int
}

/// Writes decisions only for issues still `reported` and not held by another router, locking
/// them first; one autocommit statement. Returns how many were routed and parked.
struct RecordRoutingIfReported: PostgresPreparedStatement {
    static let name = "escalated_record_routing_if_reported_v3"
    static let sql = """
        WITH d AS (\(RoutingSQL.decisions)),
        locked AS (
            SELECT i.id FROM escalated.issues i JOIN d ON d.id = i.id
             WHERE i.state = 'reported'
             FOR UPDATE OF i SKIP LOCKED
        ),
        issues AS (
            UPDATE escalated.issues i \(RoutingSQL.setOutcome)
              FROM d JOIN locked l ON l.id = d.id
             WHERE i.id = d.id
            RETURNING d.outcome
        ),
        assignments AS (\(RoutingSQL.assignments) JOIN locked l ON l.id = a.i),
        events AS (\(RoutingSQL.events("JOIN locked l ON l.id = d.id"))),
        notes AS (\(RoutingSQL.notes)),
        wake AS (\(RoutingSQL.wakeEscalators)),
        wake_outbox AS (\(RoutingSQL.wakeDeliverers))
        SELECT count(*) FILTER (WHERE outcome = 'routed')::int8, count(*) FILTER (WHERE outcome = 'unroutable')::int8,
               (SELECT count(*) FROM wake)::int8 + (SELECT count(*) FROM wake_outbox)::int8
          FROM issues
        """
    /// Routed, parked, and how many wake-ups were sent (escalators, deliverers).
    typealias Row = (Int, Int, Int)
    var record: RecordRouting

    init(_ record: RecordRouting) {
        self.record = record
    }

    func makeBindings() throws -> PostgresBindings { try record.makeBindings() }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
