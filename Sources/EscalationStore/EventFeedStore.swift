public import EscalationCore
public import Logging
import PostgresNIO

/// Reads the history as a feed, for live web pages: each new event with what decides who may see
/// it (the issue's unit, the area's member, its agencies and people), in id order.
///
/// Event ids come from one sequence but commit out of order: a reader that saw id 105 may later
/// see 104 commit. The feed therefore asks again for the ids it skipped (``FeedCursor``) until
/// they turn up or are old enough to have been rolled back.
public struct EventFeedStore: Sendable {
    public let client: Database

    public init(client: Database) {
        self.client = client
    }

    /// One event as the feed hands it out.
    public struct Event: Sendable, Equatable {
        public var id: Int64
        public var issueID: Int64
        public var kind: String
        public var unit: String
        /// The member in charge of the unit's area.
        public var member: String?
        /// Every agency assigned (responsible or handed over: both may read it).
        public var agencies: [String]
        /// People assigned (members named by a rule, watchers).
        public var people: [String]

        public init(id: Int64, issueID: Int64, kind: String, unit: String, member: String?, agencies: [String], people: [String]) {
            self.id = id
            self.issueID = issueID
            self.kind = kind
            self.unit = unit
            self.member = member
            self.agencies = agencies
            self.people = people
        }

        /// Whether `actor` may read the issue: the same rule as the API's scoped queries
        /// (`ScopeSQL.condition`), decided here from the row.
        public func isVisible(to actor: Actor) -> Bool {
            switch actor.kind {
            case .admin, .supervisor: return true
            case .unit: return actor.code == unit
            case .agency: return actor.code.map(agencies.contains) ?? false
            case .member: return actor.code != nil && (actor.code == member || people.contains(actor.code ?? ""))
            }
        }
    }

    /// The newest event id (0 when there is none): where a new feed starts.
    public func latestID(logger: Logger) async throws -> Int64 {
        let rows = try await client.query("SELECT coalesce(max(id), 0)::int8 FROM escalated.events", logger: logger).decode(Int64.self)
        return try await rows.first { _ in true } ?? 0
    }

    /// The events after `after`, and those of `missing` (ids skipped earlier), oldest first, at most `limit`.
    public func events(after: Int64, missing: [Int64] = [], limit: Int = 1000, logger: Logger) async throws -> [Event] {
        let rows = try await client.query("""
            SELECT e.id, e.issue_id, e.kind, i.unit_code, a.member_code,
                   ARRAY(SELECT target_code FROM escalated.assignments s WHERE s.issue_id = e.issue_id AND s.target_kind = 'agency'),
                   i.people
              FROM escalated.events e
              JOIN escalated.issues i ON i.id = e.issue_id
              LEFT JOIN escalated.units u ON u.code = i.unit_code
              LEFT JOIN escalated.areas a ON a.code = u.area_code
             WHERE e.id > \(after) OR e.id = ANY(\(missing))
             ORDER BY e.id
             LIMIT \(limit)
            """, logger: logger).decode((Int64, Int64, String, String, String?, [String], [String]).self)
        var events: [Event] = []
        for try await (id, issue, kind, unit, member, agencies, people) in rows {
            events.append(Event(id: id, issueID: issue, kind: kind, unit: unit, member: member, agencies: agencies, people: people))
        }
        return events
    }
}

/// Where a feed stands: the highest id seen, and the lower ids not seen yet (skipped because their
/// transaction had not committed when a later one had), each asked for again until it turns up or
/// is older than ``FeedCursor/patience``.
public struct FeedCursor: Sendable, Equatable {
    public private(set) var highest: Int64
    /// Skipped ids and when they were first missed.
    public private(set) var missing: [Int64: ContinuousClock.Instant] = [:]
    /// How long a skipped id is waited for (a transaction that has not committed by then is taken
    /// as rolled back; sequences also skip ids for good).
    public var patience: Duration = .seconds(30)
    /// At most this many skipped ids are remembered (a large rolled-back batch leaves a wide gap).
    public static let maximumMissing = 2000

    public init(highest: Int64) {
        self.highest = highest
    }

    /// The ids to ask for again.
    public var missingIDs: [Int64] { missing.keys.sorted() }

    /// Takes in a read's events (in id order); returns those not handed out before.
    public mutating func advance<Event: FeedIdentified>(with events: [Event], now: ContinuousClock.Instant = .now) -> [Event] {
        var fresh: [Event] = []
        for event in events {
            let id = event.feedID
            if id > highest {
                if id > highest + 1, missing.count < Self.maximumMissing {
                    for skipped in (highest + 1)..<min(id, highest + 1 + Int64(Self.maximumMissing - missing.count)) {
                        missing[skipped] = now
                    }
                }
                highest = id
                fresh.append(event)
            } else if missing.removeValue(forKey: id) != nil {
                fresh.append(event)
            }
        }
        missing = missing.filter { now - $0.value < patience }
        return fresh
    }
}

/// What ``FeedCursor`` needs of an event: its id.
public protocol FeedIdentified {
    var feedID: Int64 { get }
}

extension EventFeedStore.Event: FeedIdentified {
    public var feedID: Int64 { id }
}
