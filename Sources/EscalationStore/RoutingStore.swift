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
        /// The directory's names by code, in NFC (built once per revision: pages name things on every request).
        public var names: DirectoryNames

        /// Wording for `locale` in the directory's time zone, with its names.
        public func wording(_ locale: PersonLocale) -> Wording {
            Wording(locale: locale, timeZone: directory.timeZone, names: names)
        }
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
                                directory: loaded.directory, names: DirectoryNames(directory: loaded.directory))
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
    public let client: Database
    public let cache: RoutingTableCache
    /// Names this router in the events it writes (which replica routed what).
    public let instance: String

    public init(client: Database, cache: RoutingTableCache = RoutingTableCache(), instance: String) {
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
                claimed.append(Claimed(id: id, input: RoutingInput(unit: unit, sector: sector, severity: severity), reportedAt: created))
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
                claimed.append(Claimed(id: id, input: RoutingInput(unit: unit, sector: sector, severity: severity), reportedAt: created))
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
                record.agencies.append(assignments.first { $0.role == .agency && $0.targetKind == .agency }?.targetCode ?? "")
                record.people.append(assignments.filter { $0.targetKind == .person }.map(\.targetCode).sorted().joined(separator: ","))
                record.eventData.append(routedEventJSON(assignments, revision: revision, router: router, plan: plan))
                for a in assignments where a.role == .agency {
                    let channels = compiled.policy.channels(Notified(kind: a.targetKind, code: a.targetCode))
                    for channel in OutboxSQL.channelValues(channels) {
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
                record.agencies.append("")
                record.people.append("")
                counts.unroutable += 1
            }
        }
        return (record, counts)
    }

    static func routedEventJSON(_ assignments: [Assignment], revision: Int64, router: String, plan: DeadlinePlan? = nil) -> String {
        let targets = assignments.map { a in
            var fields = #"{"kind":"\#(a.targetKind.rawValue)","code":\#(QuotedString.literal(a.targetCode)),"role":"\#(a.role.rawValue)""#
            if let rule = a.ruleID { fields += #","rule":\#(QuotedString.literal(rule))"# }
            return fields + "}"
        }
        var json = #"{"directory_revision":\#(revision),"router":\#(QuotedString.literal(router)),"assignments":[\#(targets.joined(separator: ","))]"#
        if let plan {
            json += #","acknowledge_due_at":"\#(EventTime.text(plan.acknowledgeDue))","resolve_due_at":"\#(EventTime.text(plan.resolveDue))""#
            if let chain = plan.chain { json += #","chain":\#(QuotedString.literal(chain))"# }
        }
        return json + "}"
    }


    static func unroutableEventJSON(_ reason: String, revision: Int64, router: String) -> String {
        #"{"directory_revision":\#(revision),"router":\#(QuotedString.literal(router)),"reason":\#(QuotedString.literal(reason))}"#
    }
}
