public import EscalationCore
public import Logging
import PostgresNIO
public import Foundation

/// The outbox, from the sender's side: lease due rows, record what came of each, list, re-drive.
///
/// Leasing moves a row's `next_attempt_at` to the end of the lease and counts the attempt, in
/// one autocommit statement (`FOR UPDATE SKIP LOCKED`), so senders in several daemons never
/// take the same row, and a sender that dies mid-send leaves the row to come due again when its
/// lease runs out: a message may then go out twice (with the same Message-ID), never zero times.
public struct DeliveryStore: Sendable {
    public let client: Database
    /// Names this sender on the rows it leases.
    public let instance: String

    public init(client: Database, instance: String) {
        self.client = client
        self.instance = instance
    }

    /// Leases up to `limit` due rows of `channels` for `leaseSeconds`, oldest due first.
    public func lease(channels: [DeliveryChannel], limit: Int, leaseSeconds: Int, logger: Logger) async throws -> [OutboxItem] {
        let rows = try await client.query("""
            WITH c AS (
                SELECT id FROM escalated.outbox
                 WHERE state = 'pending' AND next_attempt_at <= now() AND channel = ANY(\(channels.map(\.rawValue)))
                 ORDER BY next_attempt_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ), leased AS (
                UPDATE escalated.outbox o
                   SET next_attempt_at = now() + \(leaseSeconds) * interval '1 second', attempts = o.attempts + 1, leased_by = \(instance)
                  FROM c WHERE o.id = c.id
                RETURNING o.id, o.kind, o.recipient_kind, o.recipient_code, o.channel, o.attempts, o.data, o.issue_id,
                          extract(epoch FROM now() - o.created_at)::float8 AS waited
            )
            SELECT l.id, l.kind, l.recipient_kind, l.recipient_code, l.channel, l.attempts, l.data::text, l.issue_id,
                   coalesce(i.title, ''), coalesce(i.description, ''), coalesce(i.unit_code, ''), coalesce(i.sector_code, ''),
                   coalesce(i.severity, 'normal'), i.acknowledge_due_at, i.resolve_due_at,
                   (SELECT a.target_code FROM escalated.assignments a WHERE a.issue_id = l.issue_id AND a.role = 'agency' LIMIT 1),
                   (SELECT revision FROM escalated.directory_meta), e.due_at, l.waited, acc.name, acc.email, acc.locale
              FROM leased l LEFT JOIN escalated.issues i ON i.id = l.issue_id
              LEFT JOIN escalated.accounts acc ON acc.disabled_at IS NULL
                    AND acc.id = CASE WHEN l.recipient_kind = 'account' THEN l.recipient_code::int8 END
              LEFT JOIN escalated.escalations e ON e.issue_id = l.issue_id
                    AND e.level = (l.data->>'level')::int AND e.repeat = (l.data->>'repeat')::int
             ORDER BY l.id
            """, logger: logger)
        var leased: [OutboxItem] = []
        let decoder = JSONDecoder()
        for try await row in rows {
            let r = try row.decode((Int64, String, TargetKind, String, DeliveryChannel, Int, String, Int64?, String, String, String, String, Severity,
                                    Date?, Date?, String?, Int64, Date?, Double, String?, String?, PersonLocale?).self)
            let (accountName, accountEmail, accountLocale) = (r.19, r.20, r.21)
            var item = OutboxItem(
                id: r.0, kind: r.1, recipientKind: r.2, recipientCode: r.3, channel: r.4, attempts: r.5,
                data: try decoder.decode(JSONValue.self, from: Data(r.6.utf8)), issueID: r.7,
                title: r.8, description: r.9, unit: r.10, sector: r.11, severity: r.12,
                acknowledgeDue: r.13, resolveDue: r.14, agency: r.15, revision: r.16, escalationDue: r.17, waitedSeconds: r.18)
            if let accountName, let accountEmail {
                item.account = AccountAddress(name: accountName, email: accountEmail, locale: accountLocale ?? .vi)
            }
            leased.append(item)
        }
        return leased
    }

    /// The end of one attempt.
    public struct Outcome: Sendable {
        public var id: Int64
        public var decision: DeliveryDecision
        public var answer: String
        public var transport: String

        public init(id: Int64, decision: DeliveryDecision, answer: String, transport: String) {
            self.id = id
            self.decision = decision
            self.answer = answer
            self.transport = transport
        }
    }

    /// Records the ends of attempts on rows this sender still holds, in one statement; returns
    /// the ids recorded (a row whose lease ran out and was taken by another sender is not).
    @discardableResult
    public func record(_ outcomes: [Outcome], logger: Logger) async throws -> Set<Int64> {
        guard !outcomes.isEmpty else { return [] }
        var write = RecordOutcomes(instance: instance)
        for outcome in outcomes {
            write.ids.append(outcome.id)
            switch outcome.decision {
            case .sent: write.states.append("sent"); write.retries.append(0)
            case .dead: write.states.append("dead"); write.retries.append(0)
            case .retry(let seconds): write.states.append("pending"); write.retries.append(seconds)
            }
            write.answers.append(String(outcome.answer.prefix(1000)))
            write.transports.append(outcome.transport)
        }
        var recorded = Set<Int64>()
        try await client.withConnection { connection in
            for try await id in try await connection.execute(write, logger: logger) {
                recorded.insert(id)
            }
        }
        return recorded
    }

    /// Seconds until the earliest pending row of `channels` is due (negative when due), or nil.
    public func secondsUntilNextDue(channels: [DeliveryChannel], logger: Logger) async throws -> Double? {
        var result: Double?
        for try await value in try await client.query("""
            SELECT extract(epoch FROM (min(next_attempt_at) - clock_timestamp()))::float8 FROM escalated.outbox
             WHERE state = 'pending' AND channel = ANY(\(channels.map(\.rawValue)))
            """, logger: logger).decode(Double?.self) {
            result = value
        }
        return result
    }

    /// One outbox row as operators see it.
    public struct Delivery: Sendable, Codable, Equatable {
        public var id: Int64
        public var issueID: Int64?
        public var kind: String
        public var recipient: String
        public var channel: String
        public var state: String
        public var attempts: Int
        public var lastAnswer: String?
        public var transport: String?
        public var createdAt: Date
        public var nextAttemptAt: Date
        public var sentAt: Date?

        enum CodingKeys: String, CodingKey {
            case id, kind, recipient, channel, state, attempts, transport
            case issueID = "issue_id"
            case lastAnswer = "last_answer"
            case createdAt = "created_at"
            case nextAttemptAt = "next_attempt_at"
            case sentAt = "sent_at"
        }
    }

    /// A page of deliveries in `state` (any when nil), newest first, below `before`; only those
    /// caused by `issue` when it is given.
    public func list(state: String?, before: Int64?, issue: Int64? = nil, limit: Int, logger: Logger) async throws -> [Delivery] {
        var out: [Delivery] = []
        for try await r in try await client.query("""
            SELECT id, issue_id, kind, recipient_kind || ':' || recipient_code, channel, state, attempts, last_answer, transport,
                   created_at, next_attempt_at, sent_at
              FROM escalated.outbox
             WHERE (\(state)::text IS NULL OR state = \(state)) AND (\(before)::int8 IS NULL OR id < \(before))
               AND (\(issue)::int8 IS NULL OR issue_id = \(issue))
             ORDER BY id DESC LIMIT \(limit)
            """, logger: logger).decode((Int64, Int64?, String, String, String, String, Int, String?, String?, Date, Date, Date?).self) {
            out.append(Delivery(id: r.0, issueID: r.1, kind: r.2, recipient: r.3, channel: r.4, state: r.5, attempts: r.6,
                                lastAnswer: r.7, transport: r.8, createdAt: r.9, nextAttemptAt: r.10, sentAt: r.11))
        }
        return out
    }

    /// Re-drives a dead delivery: pending again, due now, attempts from zero. False when `id` is
    /// not a dead delivery.
    public func retry(id: Int64, logger: Logger) async throws -> Bool {
        var found = false
        for try await _ in try await client.query("""
            WITH r AS (
                UPDATE escalated.outbox SET state = 'pending', next_attempt_at = now(), attempts = 0, leased_by = NULL
                 WHERE id = \(id) AND state = 'dead'
                RETURNING id
            )
            SELECT r.id, \(unescaped: WakeTopic.outbox.notifySQL)::text FROM r
            """, logger: logger) {
            found = true
        }
        return found
    }
}

/// Records the outcomes of sends leased by `instance` (a row whose lease has gone to another
/// sender is left alone); returns the ids recorded. Prepared once per connection: the deliverer
/// runs it for every message or two, and parsing and planning it each time was about a seventh of
/// PostgreSQL's CPU in a drain (BENCHMARKS.md, issue 15: 28% of the host's CPU unprepared, 24%
/// prepared).
struct RecordOutcomes: PostgresPreparedStatement {
    static let name = "escalated_record_outcomes_v1"
    static let sql = """
        UPDATE escalated.outbox o
           SET state = r.state, last_answer = r.answer, transport = r.transport, leased_by = NULL,
               next_attempt_at = CASE WHEN r.state = 'pending' THEN now() + r.retry * interval '1 second' ELSE o.next_attempt_at END,
               sent_at = CASE WHEN r.state = 'sent' THEN clock_timestamp() END
          FROM unnest($2::int8[], $3::text[], $4::text[], $5::text[], $6::float8[]) AS r(id, state, answer, transport, retry)
         WHERE o.id = r.id AND o.state = 'pending' AND o.leased_by = $1
        RETURNING o.id
        """
    typealias Row = Int64

    var instance: String
    var ids: [Int64] = []
    var states: [String] = []
    var answers: [String] = []
    var transports: [String] = []
    var retries: [Double] = []

    init(instance: String) {
        self.instance = instance
    }

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings()
        b.append(instance)
        b.append(ids)
        b.append(states)
        b.append(answers)
        b.append(transports)
        b.append(retries)
        return b
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Int64.self)
    }
}
