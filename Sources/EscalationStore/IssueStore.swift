public import EscalationCore
public import Logging
import PostgresNIO
import Foundation

/// Creating and reading issues.
public struct IssueStore: Sendable {
    public let client: Database

    /// How many issues with a running deadline a filtered list walks in order before asking the
    /// whole query (``duePage``); tests make it small to reach past it.
    public let dueStretch: Int

    public init(client: Database, dueStretch: Int = 2_000) {
        self.client = client
        self.dueStretch = max(1, dueStretch)
    }

    /// Why a report could not be stored; nothing was written.
    public enum CreateError: Error, Sendable, Equatable {
        /// A code does not name a directory entry.
        case unknown(field: String, code: String)
        /// The idempotency key was used before for a different report.
        case idempotencyKeyReused
    }

    /// The stored issue's id, and whether an earlier request with the same key had stored it.
    public struct Created: Sendable, Equatable {
        public var id: Int64
        public var replayed: Bool

        public init(id: Int64, replayed: Bool) {
            self.id = id
            self.replayed = replayed
        }
    }

    /// Stores a validated report; routing happens asynchronously, woken by the insert's NOTIFY.
    ///
    /// The unit and sector must be in the directory. With an idempotency key, a retried request
    /// gets the issue the first one stored (`replayed`), and a different request reusing the key
    /// is refused.
    /// `person` names the signed-in person who filed it from the web page (the `reported` event names them).
    public func create(_ issue: NewIssue, origin: IssueOrigin, idempotencyKey: String? = nil, reportedBy: String? = nil,
                       person: LifecycleStore.Person? = nil, logger: Logger) async throws -> Created {
        let requestHash = idempotencyKey.map { _ in Self.requestHash(issue) }
        let rows = try await client.query("""
            WITH known AS (
                SELECT EXISTS (SELECT 1 FROM escalated.units WHERE code = \(issue.unit)) AS unit_ok,
                       EXISTS (SELECT 1 FROM escalated.sectors WHERE code = \(issue.sector)) AS sector_ok
            ), inserted AS (
                INSERT INTO escalated.issues (unit_code, sector_code, severity, title, description, reporter, origin,
                                              idempotency_key, request_hash, reported_by, reported_account_id, reported_account_name)
                SELECT \(issue.unit), \(issue.sector), \(issue.severity.rawValue), \(issue.title), \(issue.description),
                       \(issue.reporter), \(origin.rawValue), \(idempotencyKey), \(requestHash), \(reportedBy),
                       \(person?.accountID)::int8, \(person.map { String($0.name.prefix(100)) })::text
                  FROM known WHERE unit_ok AND sector_ok
                ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING id
            )
            SELECT (SELECT id FROM inserted), unit_ok, sector_ok FROM known
            """, logger: logger).decode((Int64?, Bool, Bool).self)
        var result: (Int64?, Bool, Bool) = (nil, false, false)
        for try await row in rows { result = row }
        if !result.1 { throw CreateError.unknown(field: "unit", code: issue.unit) }
        if !result.2 { throw CreateError.unknown(field: "sector", code: issue.sector) }
        if let id = result.0 {
            return Created(id: id, replayed: false)
        }
        // The key was taken: by this same report (a retry) or by another.
        guard let idempotencyKey else { throw CreateError.idempotencyKeyReused }
        let existing = try await client.query(
            "SELECT id, request_hash FROM escalated.issues WHERE idempotency_key = \(idempotencyKey)", logger: logger
        ).decode((Int64, String?).self).first { _ in true }
        guard let existing, existing.1 == requestHash else { throw CreateError.idempotencyKeyReused }
        return Created(id: existing.0, replayed: true)
    }

    /// Stores many validated reports in one statement (one transaction, one NOTIFY): the grouped
    /// intake. Returns, in input order, each report's new id, or why it was refused (an unknown
    /// unit or sector); nothing is stored for a refused report.
    /// `reportedBy` names each report's filer (the token's actor), in the same order, or is empty.
    public func createMany(_ issues: [NewIssue], origin: IssueOrigin, reportedBy: [String] = [], logger: Logger) async throws -> [Result<Int64, CreateError>] {
        let filers = reportedBy.count == issues.count ? reportedBy : Array(repeating: "", count: issues.count)
        guard !issues.isEmpty else { return [] }
        var results = [Result<Int64, CreateError>](repeating: .failure(.idempotencyKeyReused), count: issues.count)
        // Ids are drawn from the identity's sequence per input row, so each answer is exact.
        let rows = try await client.query("""
            WITH input AS (
                SELECT * FROM unnest(\(issues.map(\.unit))::text[], \(issues.map(\.sector))::text[],
                                     \(issues.map(\.severity.rawValue))::text[], \(issues.map(\.title))::text[],
                                     \(issues.map(\.description))::text[], \(issues.map { $0.reporter ?? "" })::text[],
                                     \(filers)::text[])
                    WITH ORDINALITY AS t(u, s, v, ti, d, r, f, n)
            ), checked AS (
                SELECT i.*, EXISTS (SELECT 1 FROM escalated.units WHERE code = i.u) AS unit_ok,
                       EXISTS (SELECT 1 FROM escalated.sectors WHERE code = i.s) AS sector_ok
                  FROM input i
            ), ids AS (
                SELECT n, nextval(pg_get_serial_sequence('escalated.issues', 'id')) AS id FROM checked WHERE unit_ok AND sector_ok
            ), inserted AS (
                INSERT INTO escalated.issues (id, unit_code, sector_code, severity, title, description, reporter, origin, reported_by)
                OVERRIDING SYSTEM VALUE
                SELECT ids.id, c.u, c.s, c.v, c.ti, c.d, nullif(c.r, ''), \(origin.rawValue), nullif(c.f, '') FROM checked c JOIN ids USING (n)
            )
            SELECT c.n, ids.id, c.unit_ok, c.sector_ok FROM checked c LEFT JOIN ids USING (n)
            """, logger: logger).decode((Int64, Int64?, Bool, Bool).self)
        for try await (n, id, unitOK, sectorOK) in rows {
            let index = Int(n) - 1
            guard issues.indices.contains(index) else { continue }
            if let id {
                results[index] = .success(id)
            } else if !unitOK {
                results[index] = .failure(.unknown(field: "unit", code: issues[index].unit))
            } else if !sectorOK {
                results[index] = .failure(.unknown(field: "sector", code: issues[index].sector))
            }
        }
        return results
    }

    static func requestHash(_ issue: NewIssue) -> String {
        let fields = [issue.unit, issue.sector, issue.severity.rawValue, issue.title, issue.description, issue.reporter ?? "\u{1}"]
        return DirectoryStore.sha256(fields.joined(separator: "\u{0}"))
    }

    private static let columns = """
        i.id, i.unit_code, i.sector_code, i.severity, i.title, i.description, i.reporter, i.origin, i.state, i.version,
        i.created_at, i.routed_at, i.updated_at,
        i.acknowledge_due_at, i.resolve_due_at, i.due_at, coalesce(i.due_at < now(), false), i.acknowledged_at, i.resolved_at,
        i.chain_code, i.escalation_level, i.next_level, i.next_repeat, i.next_escalation_at,
        (extract(epoch FROM i.due_at) * 1000000)::int8
        """

    private typealias Row = (
        (Int64, String, String, Severity, String, String, String?, IssueOrigin, IssueState, Int, Date, Date?, Date),
        (Date?, Date?, Date?, Bool, Date?, Date?),
        (String?, Int, Int?, Int?, Date?, Int64?)
    )

    private static func decode(_ row: PostgresRow) throws -> Row {
        let columns = try row.decode((Int64, String, String, Severity, String, String, String?, IssueOrigin, IssueState, Int, Date, Date?, Date,
                                      Date?, Date?, Date?, Bool, Date?, Date?, String?, Int, Int?, Int?, Date?, Int64?).self)
        return ((columns.0, columns.1, columns.2, columns.3, columns.4, columns.5, columns.6, columns.7, columns.8, columns.9,
                 columns.10, columns.11, columns.12),
                (columns.13, columns.14, columns.15, columns.16, columns.17, columns.18),
                (columns.19, columns.20, columns.21, columns.22, columns.23, columns.24))
    }

    private static func record(_ row: Row) -> IssueRecord {
        let (r, d, e) = row
        var next: NextEscalationRecord?
        if let level = e.2, let rep = e.3, let at = e.4 { next = NextEscalationRecord(level: level, repeat: rep, at: at) }
        return IssueRecord(
            id: r.0, unit: r.1, sector: r.2, severity: r.3, title: r.4, description: r.5,
            reporter: r.6, origin: r.7, state: r.8,
            version: r.9, createdAt: r.10, routedAt: r.11, updatedAt: r.12,
            deadlines: DeadlinesRecord(acknowledgeDueAt: d.0, resolveDueAt: d.1, dueAt: d.2, overdue: d.3, acknowledgedAt: d.4, resolvedAt: d.5),
            escalation: EscalationRecord(chain: e.0, level: e.1, next: next),
            assignments: nil, events: nil
        )
    }

    /// One issue with its assignments and full history, or nil when there is none with that id
    /// within `scope`.
    public func get(id: Int64, scope: Actor = .admin, logger: Logger) async throws -> IssueRecord? {
        try await getMany(ids: [id], scope: scope, logger: logger)[id]
    }

    /// Several issues with their assignments and histories, in three queries whatever their number.
    /// Issues outside `scope` are left out.
    /// Without `history`, one query: the issues alone (assignments and events left absent).
    public func getMany(ids: [Int64], scope: Actor = .admin, history: Bool = true, logger: Logger) async throws -> [Int64: IssueRecord] {
        guard !ids.isEmpty else { return [:] }
        return try await client.withConnection { connection in
            var issues: [Int64: IssueRecord] = [:]
            var binds = PostgresBindings()
            binds.append(ids)
            let inScope = ScopeSQL.condition(scope, binds: &binds)
            for try await row in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM escalated.issues i WHERE i.id = ANY($1) AND \(inScope)", binds: binds),
                logger: logger
            ) {
                var issue = Self.record(try Self.decode(row))
                if history {
                    issue.assignments = []
                    issue.events = []
                }
                issues[issue.id] = issue
            }
            guard !issues.isEmpty, history else { return issues }
            let ids = Array(issues.keys)
            for try await (issueID, kind, code, role, rule, at) in try await connection.query("""
                SELECT issue_id, target_kind, target_code, role, rule_id, assigned_at FROM escalated.assignments
                 WHERE issue_id = ANY(\(ids))
                 ORDER BY issue_id, CASE role WHEN 'agency' THEN 0 WHEN 'member' THEN 1 ELSE 2 END, target_kind, target_code
                """, logger: logger).decode((Int64, TargetKind, String, AssignmentRole, String?, Date).self) {
                issues[issueID]?.assignments?.append(AssignmentRecord(
                    kind: kind, code: code,
                    role: role, rule: rule, assignedAt: at
                ))
            }
            let decoder = JSONDecoder()
            for try await (eventID, issueID, kind, actor, at, data, name) in try await connection.query("""
                SELECT id, issue_id, kind, actor, at, data::text, account_name FROM escalated.events WHERE issue_id = ANY(\(ids)) ORDER BY issue_id, id
                """, logger: logger).decode((Int64, Int64, String, String, Date, String, String?).self) {
                let value = (try? decoder.decode(JSONValue.self, from: Data(data.utf8))) ?? .null
                issues[issueID]?.events?.append(EventRecord(id: eventID, kind: kind, actor: actor, at: at, data: value, accountName: name))
            }
            return issues
        }
    }

    /// A page of issues within `scope`, in the filter's order.
    public func list(_ filter: IssueFilter, scope: Actor = .admin, logger: Logger) async throws -> IssuePage {
        var binds = PostgresBindings()
        // Two kinds of condition: those on the issue's own columns (cheap, and well estimated by
        // the planner) and those that look elsewhere or at the text (a scope's EXISTS, words).
        var conditions: [String] = []
        var filters: [String] = []
        let scopeCondition = ScopeSQL.condition(scope, binds: &binds, responsible: filter.openOnly)
        if scopeCondition != "true" {
            // A unit's scope is its own column; the others ask the assignments.
            if scope.kind == .unit { conditions.append(scopeCondition) } else { filters.append(scopeCondition) }
        }
        func add(_ condition: (Int) -> String, _ value: some PostgresNonThrowingEncodable & Sendable, costly: Bool = false) {
            binds.append(value)
            if costly { filters.append(condition(binds.count)) } else { conditions.append(condition(binds.count)) }
        }
        if let unit = filter.unit { add({ "i.unit_code = $\($0)" }, unit) }
        if let area = filter.area { add({ "i.unit_code IN (SELECT code FROM escalated.units WHERE area_code = $\($0))" }, area) }
        if let sector = filter.sector { add({ "i.sector_code = $\($0)" }, sector) }
        // In deadline order a state is tried on the deadline index's walk (every issue on it is
        // open, most of them in the one state), not planned with it: the planner, taking the state
        // and the deadline as independent, would read and sort every overdue issue instead.
        if let state = filter.state { add({ "i.state = $\($0)" }, state.rawValue, costly: filter.sort == .due) }
        if let since = filter.since { add({ "i.created_at >= $\($0)" }, since) }
        if let before = filter.before { add({ "i.created_at < $\($0)" }, before) }
        for word in (filter.words ?? "").split(whereSeparator: \.isWhitespace).prefix(8) {
            // ILIKE with the pattern's own wildcards escaped: the word matches as typed.
            let escaped = word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            add({ "i.title ILIKE '%' || $\($0) || '%'" }, escaped, costly: true)
        }
        // Open issues: with a running deadline they are all open (migration 008 holds every row to
        // that), so the deadline half of the due order leaves the state out: the planner, which
        // takes the two conditions as independent, would otherwise count nine open issues in ten
        // as missing and walk the wrong index.
        let openStates = "i.state IN ('routed', 'acknowledged', 'reopened', 'unroutable')"
        if filter.overdue { conditions.append("i.due_at < now()") }
        // The agency responsible now: the one on the row (its `agency` assignment, migration 012),
        // as the dashboards count it.
        if let agency = filter.agency { add({ "i.agency_code = $\($0)" }, agency) }
        let all = conditions + filters + (filter.openOnly ? [openStates] : [])
        let limit = max(1, min(filter.limit, IssueFilter.maximumLimit))
        var rows: [Row] = []
        switch filter.sort {
        case .newest, .oldest:
            var binds = binds
            var conditions = all
            if let cursor = filter.cursor, cursor.sort == filter.sort {
                binds.append(cursor.id)
                conditions.append(filter.sort == .newest ? "i.id < $\(binds.count)" : "i.id > $\(binds.count)")
            }
            rows = try await page(conditions, binds: binds, order: filter.sort == .newest ? "i.id DESC" : "i.id", limit: limit + 1, logger: logger)
        case .due:
            // Deadline first, those without one last. Two reads, each in an index's order, so a
            // page costs the same with ten open issues or a million: first the issues with a
            // running deadline (issues_due), then, when the page is not full, those without one
            // (issues_open_undue). One ORDER BY over coalesce(due_at, 'infinity') would sort every
            // open issue for each page.
            let cursor = filter.cursor?.sort == .due ? filter.cursor : nil
            let pastDeadlines = cursor.map { $0.dueMicros == Int64.max } ?? false
            if !pastDeadlines {
                var binds = binds
                var conditions = conditions + ["i.due_at IS NOT NULL"]
                if let cursor {
                    binds.append(cursor.dueMicros)
                    binds.append(cursor.id)
                    conditions.append("(i.due_at, i.id) > ('epoch'::timestamptz + $\(binds.count - 1) * interval '1 microsecond', $\(binds.count))")
                }
                rows = try await duePage(conditions, filters: filters, binds: binds, limit: limit + 1, logger: logger)
            }
            if rows.count <= limit, !filter.overdue {
                var binds = binds
                var conditions = all + ["i.due_at IS NULL"]
                if let cursor, pastDeadlines {
                    binds.append(cursor.id)
                    conditions.append("i.id > $\(binds.count)")
                }
                // Two statements, two snapshots: an issue whose deadline stopped running between them
                // could be read twice.
                let seen = Set(rows.map(\.0.0))
                rows += try await page(conditions, binds: binds, order: "i.id", limit: limit + 1 - rows.count, logger: logger).filter { !seen.contains($0.0.0) }
            }
        }
        var result = IssuePage(items: [], next: nil)
        if rows.count > limit {
            rows.removeLast()
            if let last = rows.last {
                result.next = IssueCursor(sort: filter.sort, dueMicros: last.2.5 ?? Int64.max, id: last.0.0)
            }
        }
        result.items = rows.map(Self.record)
        return result
    }

    /// Issues with a running deadline, in deadline order: `conditions` (on the issue's columns) and
    /// `filters` (a scope's EXISTS, words in the title), at most `limit` rows.
    ///
    /// The deadline's index is walked in order and the filters tried on what it yields, a bounded
    /// stretch first: the planner cannot tell how many issues a scope's EXISTS keeps (an agency's
    /// sector holds all its issues, which it cannot know), and guessing few it would read and sort
    /// every match of the cheap conditions instead of walking until the page is full. When the
    /// stretch (``dueStretch`` issues) does not fill the page and there is more beyond it, the
    /// whole query is asked, as planned. Two statements, two snapshots: an issue could be missed
    /// or read twice only if it moved in and out of the stretch between them, and a reload shows it.
    private func duePage(_ conditions: [String], filters: [String], binds: PostgresBindings, limit: Int, logger: Logger) async throws -> [Row] {
        guard !filters.isEmpty else { return try await page(conditions, binds: binds, order: "i.due_at, i.id", limit: limit, logger: logger) }
        // The stretch's LIMIT keeps the filters out of it (a condition cannot move below a LIMIT),
        // and its order is the page's, so the outer LIMIT stops the walk as soon as the page is full.
        let stretch = "SELECT * FROM escalated.issues i WHERE \(conditions.joined(separator: " AND ")) ORDER BY i.due_at, i.id LIMIT \(dueStretch)"
        var pageBinds = binds
        pageBinds.append(limit)
        let sql = "SELECT \(Self.columns) FROM (\(stretch)) i WHERE \(filters.joined(separator: " AND ")) ORDER BY i.due_at, i.id LIMIT $\(pageBinds.count)"
        let rows = try await read(sql, binds: pageBinds, logger: logger)
        if rows.count == limit { return rows }
        // Not full: complete when the stretch held every issue the cheap conditions match.
        var held = 0
        for try await count in try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int8 FROM (\(stretch)) i", binds: binds), logger: logger).decode(Int64.self) {
            held = Int(count)
        }
        if held < dueStretch { return rows }
        return try await page(conditions + filters, binds: binds, order: "i.due_at, i.id", limit: limit, logger: logger)
    }

    /// One read of a list: `conditions` joined, in `order`, at most `limit` rows.
    private func page(_ conditions: [String], binds: PostgresBindings, order: String, limit: Int, logger: Logger) async throws -> [Row] {
        var binds = binds
        binds.append(limit)
        // No condition at all (a supervisor's every issue): every row.
        let condition = conditions.isEmpty ? "true" : conditions.joined(separator: " AND ")
        let sql = "SELECT \(Self.columns) FROM escalated.issues i WHERE \(condition) ORDER BY \(order) LIMIT $\(binds.count)"
        return try await read(sql, binds: binds, logger: logger)
    }

    private func read(_ sql: String, binds: PostgresBindings, logger: Logger) async throws -> [Row] {
        var rows: [Row] = []
        for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) {
            rows.append(try Self.decode(row))
        }
        return rows
    }
}
