import EscalationCore
import Foundation
import PostgresNIO

// The routing statements are named prepared statements: parsed and planned once per connection,
// which matters at steady load, where every batch holds one issue.

/// The row shape every claim returns: id, unit, sector, severity, reported at, directory revision.
enum ClaimStatement {
    typealias Row = (Int64, String, String, Severity, Date, Int64)
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
        SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $10::float8[], $11::float8[], $12::text[], $13::float8[], $18::text[], $19::text[])
            AS d(id, outcome, data, ack, resolve, chain, next, agency, people)
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
            next_level_start = to_timestamp(nullif(d.next, 0)),
            agency_code = nullif(d.agency, ''),
            people = string_to_array(d.people, ',')
        """
    /// The units each person of the written rows now has issues in (015), from `issues`'
    /// `RETURNING i.unit_code, i.people`: sorted, so that two statements adding the same new pairs
    /// add them in the same order (one waits for the other, never both for each other).
    static let personUnits = """
        INSERT INTO escalated.person_units (person_code, unit_code)
        SELECT DISTINCT p, r.unit_code FROM issues r, unnest(r.people) p ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        """
    /// Escalators sleep at most a poll interval (at most a minute): a deadline set nearer than
    /// that wakes them, farther ones are found by their next look.
    static let wakeEscalators = """
        SELECT \(WakeTopic.deadlines.notifySQL) FROM d WHERE d.next <> 0
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
    static let notes = OutboxSQL.insert("""
        SELECT n.i, e.id, 'routed', n.k, n.c, e.data, n.ch
          FROM unnest($14::bigint[], $15::text[], $16::text[], $17::text[]) AS n(i, k, c, ch) JOIN events e ON e.issue_id = n.i
        """)
    static let wakeDeliverers = OutboxSQL.wakeDeliverers(after: "notes")
}

/// Writes a batch's outcome in one statement: new states, assignments and events.
struct RecordRouting: PostgresPreparedStatement {
    static let name = "escalated_record_routing_v6"
    static let sql = """
        WITH d AS (\(RoutingSQL.decisions)),
        issues AS (UPDATE escalated.issues i \(RoutingSQL.setOutcome) FROM d WHERE i.id = d.id RETURNING i.unit_code, i.people),
        person_units AS (\(RoutingSQL.personUnits)),
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
    /// The responsible agency of each issue (in `issueIDs`' order), "" when unroutable.
    var agencies: [String] = []
    /// The persons each issue is assigned to (in `issueIDs`' order), in code order, joined by
    /// commas (which no code holds); "" for none.
    var people: [String] = []

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
        bindings.append(agencies)
        bindings.append(people)
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
    static let name = "escalated_record_routing_if_reported_v6"
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
            RETURNING d.outcome, i.unit_code, i.people
        ),
        person_units AS (\(RoutingSQL.personUnits)),
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
