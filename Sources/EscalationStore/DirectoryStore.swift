public import EscalationCore
import EscalationYAML
public import Logging
public import PostgresNIO
import Crypto
import Foundation

/// The directory tables: import (replace in one transaction) and load.
public struct DirectoryStore: Sendable {
    public let client: Database

    public init(client: Database) {
        self.client = client
    }

    /// What an import did.
    public struct ImportResult: Sendable, Equatable {
        /// False when the database already held exactly this directory (nothing was written).
        public var changed: Bool
        /// The directory revision after the import.
        public var revision: Int64
    }

    /// Replaces the whole directory with `directory`, validated first, in one transaction.
    ///
    /// Importing the same directory twice changes nothing the second time. A changed directory
    /// bumps the revision and wakes every router, which reloads it and retries unroutable issues.
    public func importDirectory(_ directory: Directory, logger: Logger) async throws -> ImportResult {
        try directory.validate()
        let hash = Self.contentHash(directory)
        return try await client.inTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                "SELECT revision, content_hash FROM escalated.directory_meta FOR UPDATE", logger: logger
            ).decode((Int64, String?).self)
            var current: (Int64, String?) = (0, nil)
            for try await row in rows { current = row }
            if current.1 == hash {
                return ImportResult(changed: false, revision: current.0)
            }
            try await Self.replace(directory, connection: connection, logger: logger)
            let revision = try await connection.query("""
                UPDATE escalated.directory_meta
                   SET revision = revision + 1, content_hash = \(hash), imported_at = now()
                RETURNING revision
                """, logger: logger).decode(Int64.self).first { _ in true } ?? current.0 + 1
            try await connection.query(WakeTopic.directory.notifyQuery, logger: logger)
            logger.info("directory imported", metadata: [
                "directory.revision": "\(revision)", "directory.units": "\(directory.units.count)",
                "directory.sectors": "\(directory.sectors.count)", "directory.rules": "\(directory.rules.count)",
            ])
            return ImportResult(changed: true, revision: revision)
        }
    }

    /// The current directory and its revision.
    public func load(logger: Logger) async throws -> (revision: Int64, directory: Directory) {
        try await client.withConnection { connection in
            try await Self.load(connection: connection, logger: logger)
        }
    }

    static func contentHash(_ directory: Directory) -> String {
        sha256(DirectoryFile.render(directory))
    }

    /// Hex SHA-256 of a string's UTF-8 bytes.
    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    private static func replace(_ d: Directory, connection: PostgresConnection, logger: Logger) async throws {
        for table in ["routing_rules", "sectors", "agencies", "units", "areas", "people", "calendars", "supervisor_groups", "chains"] {
            try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM escalated.\(table)"), logger: logger)
        }
        let ords = { (count: Int) in (0..<count).map { Int32($0) } }
        try await connection.query("""
            INSERT INTO escalated.people (ord, code, name, email, locale, role)
            SELECT o, c, n, nullif(e, ''), l, nullif(r, '')
              FROM unnest(\(ords(d.people.count))::int[], \(d.people.map(\.code))::text[], \(d.people.map(\.name))::text[],
                          \(d.people.map { $0.email ?? "" })::text[], \(d.people.map(\.locale.rawValue))::text[],
                          \(d.people.map { $0.role ?? "" })::text[]) AS t(o, c, n, e, l, r)
            """, logger: logger)
        try await connection.query("""
            INSERT INTO escalated.areas (ord, code, name, member_code)
            SELECT * FROM unnest(\(ords(d.areas.count))::int[], \(d.areas.map(\.code))::text[], \(d.areas.map(\.name))::text[],
                                 \(d.areas.map(\.member))::text[])
            """, logger: logger)
        try await connection.query("""
            INSERT INTO escalated.units (ord, code, name, kind, area_code)
            SELECT * FROM unnest(\(ords(d.units.count))::int[], \(d.units.map(\.code))::text[], \(d.units.map(\.name))::text[],
                                 \(d.units.map(\.kind.rawValue))::text[], \(d.units.map(\.area))::text[])
            """, logger: logger)
        // Lists travel as newline-joined text: validated emails and codes contain no white space.
        try await connection.query("""
            INSERT INTO escalated.agencies (ord, code, name, emails, webhook_url)
            SELECT o, c, n, coalesce(string_to_array(nullif(e, ''), E'\\n'), '{}'), nullif(w, '')
              FROM unnest(\(ords(d.agencies.count))::int[], \(d.agencies.map(\.code))::text[], \(d.agencies.map(\.name))::text[],
                          \(d.agencies.map { $0.emails.joined(separator: "\n") })::text[],
                          \(d.agencies.map { $0.webhook ?? "" })::text[]) AS t(o, c, n, e, w)
            """, logger: logger)
        let seconds = { (value: Int?) in Int32(value ?? 0) }
        try await connection.query("""
            INSERT INTO escalated.sectors (ord, code, name_vi, name_en, agency_code,
                                           normal_ack_seconds, normal_resolve_seconds, urgent_ack_seconds, urgent_resolve_seconds,
                                           calendar_code, chain_code)
            SELECT o, c, nv, ne, a, nullif(na, 0), nullif(nr, 0), nullif(ua, 0), nullif(ur, 0), nullif(cal, ''), nullif(ch, '')
              FROM unnest(\(ords(d.sectors.count))::int[], \(d.sectors.map(\.code))::text[], \(d.sectors.map(\.nameVi))::text[],
                          \(d.sectors.map(\.nameEn))::text[], \(d.sectors.map(\.agency))::text[],
                          \(d.sectors.map { seconds($0.normal?.acknowledgeSeconds) })::int[],
                          \(d.sectors.map { seconds($0.normal?.resolveSeconds) })::int[],
                          \(d.sectors.map { seconds($0.urgent?.acknowledgeSeconds) })::int[],
                          \(d.sectors.map { seconds($0.urgent?.resolveSeconds) })::int[],
                          \(d.sectors.map { $0.calendar ?? "" })::text[],
                          \(d.sectors.map { $0.chain ?? "" })::text[]) AS t(o, c, nv, ne, a, na, nr, ua, ur, cal, ch)
            """, logger: logger)
        try await connection.query("""
            INSERT INTO escalated.calendars (ord, code, time_zone, hours, holidays, extra_days)
            SELECT o, c, z, h::jsonb, coalesce(string_to_array(nullif(hd, ''), E'\\n')::date[], '{}'), x::jsonb
              FROM unnest(\(ords(d.calendars.count))::int[], \(d.calendars.map(\.code))::text[], \(d.calendars.map(\.timeZone))::text[],
                          \(d.calendars.map { DirectoryJSON.hours($0.weekly) })::text[],
                          \(d.calendars.map { $0.holidays.map(\.description).joined(separator: "\n") })::text[],
                          \(d.calendars.map { DirectoryJSON.extraDays($0.extraDays) })::text[]) AS t(o, c, z, h, hd, x)
            """, logger: logger)
        try await connection.query("""
            INSERT INTO escalated.supervisor_groups (ord, code, name, members, includes, digest_minute, report_kind, report_minute)
            SELECT o, c, n, coalesce(string_to_array(nullif(m, ''), E'\\n'), '{}'), coalesce(string_to_array(nullif(i, ''), E'\\n'), '{}'),
                   nullif(dm, -1), nullif(rk, ''), nullif(rm, -1)
              FROM unnest(\(ords(d.groups.count))::int[], \(d.groups.map(\.code))::text[], \(d.groups.map(\.name))::text[],
                          \(d.groups.map { $0.members.joined(separator: "\n") })::text[],
                          \(d.groups.map { $0.includes.joined(separator: "\n") })::text[],
                          \(d.groups.map { Int32($0.digestMinute ?? -1) })::int[],
                          \(d.groups.map { $0.report?.rawValue ?? "" })::text[],
                          \(d.groups.map { Int32($0.reportMinute ?? -1) })::int[]) AS t(o, c, n, m, i, dm, rk, rm)
            """, logger: logger)
        try await connection.query("""
            INSERT INTO escalated.chains (ord, code, name, levels)
            SELECT o, c, n, l::jsonb
              FROM unnest(\(ords(d.chains.count))::int[], \(d.chains.map(\.code))::text[], \(d.chains.map(\.name))::text[],
                          \(d.chains.map { DirectoryJSON.levels($0.levels) })::text[]) AS t(o, c, n, l)
            """, logger: logger)
        try await connection.query("""
            UPDATE escalated.directory_meta SET default_calendar = \(d.defaults.calendar), default_chain = \(d.defaults.chain), name = \(d.name)
            """, logger: logger)
        try await connection.query("""
            INSERT INTO escalated.routing_rules (ord, id, priority, match_sector, match_unit, match_area, match_severity,
                                                 agency_code, member_code, notify)
            SELECT o, i, p, nullif(ms, ''), nullif(mu, ''), nullif(ma, ''), nullif(mv, ''), nullif(a, ''), nullif(m, ''),
                   coalesce(string_to_array(nullif(n, ''), E'\\n'), '{}')
              FROM unnest(\(ords(d.rules.count))::int[], \(d.rules.map(\.id))::text[], \(d.rules.map { Int32($0.priority) })::int[],
                          \(d.rules.map { $0.match.sector ?? "" })::text[], \(d.rules.map { $0.match.unit ?? "" })::text[],
                          \(d.rules.map { $0.match.area ?? "" })::text[], \(d.rules.map { $0.match.severity?.rawValue ?? "" })::text[],
                          \(d.rules.map { $0.agency ?? "" })::text[], \(d.rules.map { $0.member ?? "" })::text[],
                          \(d.rules.map { $0.notify.joined(separator: "\n") })::text[]) AS t(o, i, p, ms, mu, ma, mv, a, m, n)
            """, logger: logger)
    }

    /// Loads the directory on a given connection (inside the caller's transaction, if any).
    public static func load(connection: PostgresConnection, logger: Logger) async throws -> (revision: Int64, directory: Directory) {
        var d = Directory()
        var revision: Int64 = 0
        for try await r in try await connection.query("SELECT revision FROM escalated.directory_meta", logger: logger).decode(Int64.self) {
            revision = r
        }
        for try await (code, name, email, locale, role) in try await connection.query(
            "SELECT code, name, email, locale, role FROM escalated.people ORDER BY ord", logger: logger
        ).decode((String, String, String?, PersonLocale, String?).self) {
            d.people.append(Person(code: code, name: name, email: email, locale: locale, role: role))
        }
        for try await (code, name, member) in try await connection.query(
            "SELECT code, name, member_code FROM escalated.areas ORDER BY ord", logger: logger
        ).decode((String, String, String).self) {
            d.areas.append(Area(code: code, name: name, member: member))
        }
        for try await (code, name, kind, area) in try await connection.query(
            "SELECT code, name, kind, area_code FROM escalated.units ORDER BY ord", logger: logger
        ).decode((String, String, UnitKind, String).self) {
            d.units.append(Unit(code: code, name: name, kind: kind, area: area))
        }
        for try await (code, name, emails, webhook) in try await connection.query(
            "SELECT code, name, emails, webhook_url FROM escalated.agencies ORDER BY ord", logger: logger
        ).decode((String, String, [String], String?).self) {
            d.agencies.append(Agency(code: code, name: name, emails: emails, webhook: webhook))
        }
        for try await (code, nameVi, nameEn, agency, na, nr, ua, ur, calendar, chain) in try await connection.query("""
            SELECT code, name_vi, name_en, agency_code, normal_ack_seconds, normal_resolve_seconds,
                   urgent_ack_seconds, urgent_resolve_seconds, calendar_code, chain_code
              FROM escalated.sectors ORDER BY ord
            """, logger: logger
        ).decode((String, String, String, String, Int?, Int?, Int?, Int?, String?, String?).self) {
            let normal = na.flatMap { a in nr.map { Deadlines(acknowledgeSeconds: a, resolveSeconds: $0) } }
            let urgent = ua.flatMap { a in ur.map { Deadlines(acknowledgeSeconds: a, resolveSeconds: $0) } }
            d.sectors.append(Sector(code: code, nameVi: nameVi, nameEn: nameEn, agency: agency, normal: normal, urgent: urgent,
                                    calendar: calendar, chain: chain))
        }
        for try await (calendar, chain, name) in try await connection.query(
            "SELECT default_calendar, default_chain, name FROM escalated.directory_meta", logger: logger
        ).decode((String?, String?, String?).self) {
            d.defaults = EscalationDefaults(calendar: calendar, chain: chain)
            d.name = name
        }
        for try await (code, zone, hours, holidays, extra) in try await connection.query("""
            SELECT code, time_zone, hours::text, array_to_string(holidays, E'\\n'), extra_days::text
              FROM escalated.calendars ORDER BY ord
            """, logger: logger
        ).decode((String, String, String, String, String).self) {
            d.calendars.append(CalendarDefinition(
                code: code, timeZone: zone, weekly: try DirectoryJSON.readHours(hours),
                holidays: holidays.split(separator: "\n").compactMap { LocalDate(String($0)) },
                extraDays: try DirectoryJSON.readExtraDays(extra)))
        }
        for try await (code, name, members, includes, digest, report, reportMinute) in try await connection.query("""
            SELECT code, name, members, includes, digest_minute, report_kind, report_minute
              FROM escalated.supervisor_groups ORDER BY ord
            """, logger: logger
        ).decode((String, String, [String], [String], Int?, ReportKind?, Int?).self) {
            d.groups.append(SupervisorGroup(code: code, name: name, members: members, includes: includes, digestMinute: digest,
                                            report: report, reportMinute: reportMinute))
        }
        for try await (code, name, levels) in try await connection.query(
            "SELECT code, name, levels::text FROM escalated.chains ORDER BY ord", logger: logger
        ).decode((String, String, String).self) {
            d.chains.append(EscalationChain(code: code, name: name, levels: try DirectoryJSON.readLevels(levels)))
        }
        for try await (id, priority, ms, mu, ma, mv, agency, member, notify) in try await connection.query("""
            SELECT id, priority, match_sector, match_unit, match_area, match_severity, agency_code, member_code, notify
              FROM escalated.routing_rules ORDER BY ord
            """, logger: logger
        ).decode((String, Int, String?, String?, String?, String?, String?, String?, [String]).self) {
            d.rules.append(RoutingRule(
                id: id, priority: priority,
                match: RuleMatch(sector: ms, unit: mu, area: ma, severity: mv.flatMap(Severity.init(rawValue:))),
                agency: agency, member: member, notify: notify
            ))
        }
        return (revision, d)
    }
}

/// How calendars and chains are kept in their jsonb columns.
enum DirectoryJSON {
    struct Corrupt: Error, CustomStringConvertible {
        var description: String
    }

    struct Level: Codable {
        var after: Int
        var notify: [String]
        var repeat_every: Int?
        var repeat_times: Int
    }

    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    static func hours(_ weekly: [Int: [WorkingHours]]) -> String {
        encode(Dictionary(uniqueKeysWithValues: weekly.map { (WorkingCalendar.weekdayNames[$0.key - 1], $0.value.map(\.description)) }))
    }

    static func extraDays(_ days: [LocalDate: [WorkingHours]]) -> String {
        encode(Dictionary(uniqueKeysWithValues: days.map { ($0.key.description, $0.value.map(\.description)) }))
    }

    static func levels(_ levels: [EscalationLevel]) -> String {
        encode(levels.map { Level(after: $0.afterSeconds, notify: $0.notify.map(\.description), repeat_every: $0.repeatEverySeconds, repeat_times: $0.repeatTimes) })
    }

    private static func spans(_ texts: [String]) throws -> [WorkingHours] {
        try texts.map { text in
            guard let h = WorkingHours(text) else { throw Corrupt(description: "stored hours '\(text)' are unreadable") }
            return h
        }
    }

    static func readHours(_ json: String) throws -> [Int: [WorkingHours]] {
        let raw = try JSONDecoder().decode([String: [String]].self, from: Data(json.utf8))
        var weekly: [Int: [WorkingHours]] = [:]
        for (name, texts) in raw {
            guard let index = WorkingCalendar.weekdayNames.firstIndex(of: name) else { throw Corrupt(description: "stored weekday '\(name)' is unknown") }
            weekly[index + 1] = try spans(texts)
        }
        return weekly
    }

    static func readExtraDays(_ json: String) throws -> [LocalDate: [WorkingHours]] {
        let raw = try JSONDecoder().decode([String: [String]].self, from: Data(json.utf8))
        var days: [LocalDate: [WorkingHours]] = [:]
        for (text, hours) in raw {
            guard let date = LocalDate(text) else { throw Corrupt(description: "stored date '\(text)' is unreadable") }
            days[date] = try spans(hours)
        }
        return days
    }

    static func readLevels(_ json: String) throws -> [EscalationLevel] {
        try JSONDecoder().decode([Level].self, from: Data(json.utf8)).map { level in
            EscalationLevel(afterSeconds: level.after, notify: try level.notify.map { text in
                guard let r = Recipient(text) else { throw Corrupt(description: "stored recipient '\(text)' is unreadable") }
                return r
            }, repeatEverySeconds: level.repeat_every, repeatTimes: level.repeat_times)
        }
    }
}
