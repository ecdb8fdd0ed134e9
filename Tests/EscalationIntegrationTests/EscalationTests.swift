import AsyncHTTPClient
import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// Deadlines and escalation against the real PostgreSQL and the real clock: the `roads`
    /// sector's urgent issues must be acknowledged 2 s after they are reported, and the `fast`
    /// chain then fires the agency at T, again at T+1 s, the member at T+2 s, the supervisors at T+4 s.
    @Suite("Deadlines and escalation")
    struct EscalationTests {
        /// Offset of each (level, repeat) of the fast chain from the missed deadline, in seconds.
        static let offset = "CASE e.level * 10 + e.repeat WHEN 10 THEN 0 WHEN 11 THEN 1 WHEN 20 THEN 2 WHEN 30 THEN 4 END"

        /// Escalations whose due time is not the schedule's (to the microsecond, give or take one).
        static let offSchedule = """
            SELECT count(*) FROM escalated.escalations e JOIN escalated.issues i ON i.id = e.issue_id
             WHERE abs(extract(epoch FROM e.due_at - i.acknowledge_due_at) - \(offset)) > 0.000002
            """

        static func post(_ client: some TestClientProtocol, _ uri: String, _ body: String) async throws -> TestResponse {
            try await client.execute(uri: uri, method: .post, headers: APITests.json, body: ByteBuffer(string: body))
        }

        @Test("three daemons over 1,000 issues due at once: every level and reminder fires exactly once, on schedule, none early")
        func threeDaemons() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let daemons = try (0..<3).map { _ in try DaemonProcess.serve(settings, environment: ["ESCALATED_BATCH_SIZE": "100"]) }
            try await InProcessDaemon.waitForListener(settings, count: 3)
            try await TestPostgres.insertFastIssues(settings, count: 1000)
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.escalations", equals: 4000, timeout: .seconds(60))
            // Past the end of the schedule, nothing more fires.
            try await Task.sleep(for: .seconds(1))
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.escalations") == 4000)
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.events WHERE kind = 'escalated'") == 4000)
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE kind IN ('escalated', 'reminder')") == 4000)
            // Routing told each agency once, by email (the test directory gives it an address).
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE kind = 'routed' AND channel = 'email'") == 1000)
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.escalations WHERE fired_at < due_at") == 0)
            #expect(try await TestPostgres.scalar(settings, Self.offSchedule) == 0)
            #expect(try await TestPostgres.scalar(settings, """
                SELECT count(*) FROM escalated.issues
                 WHERE escalation_level = 3 AND next_escalation_at IS NULL
                   AND abs(extract(epoch FROM acknowledge_due_at - created_at) - 2) < 0.000002
                """) == 1000)
            // Who was told what: the agency twice, the member, then the supervisors' group.
            #expect(try await TestPostgres.strings(settings, """
                SELECT line || ' ' || count(*) FROM (
                    SELECT e.level || '.' || e.repeat || ' ' || o.recipient_kind || ':' || o.recipient_code || ' ' || o.kind || ' ' || o.channel || ' ' || o.state AS line
                      FROM escalated.outbox o JOIN escalated.escalations e ON e.issue_id = o.issue_id
                       AND (o.data->>'level')::int = e.level AND (o.data->>'repeat')::int = e.repeat
                ) t GROUP BY line ORDER BY line
                """) == ["1.0 agency:land-dept escalated email pending 1000", "1.1 agency:land-dept reminder email pending 1000",
                         "2.0 person:m-north escalated none dead 1000", "3.0 person:office escalated email pending 1000"])
            let lateness = try await TestPostgres.strings(settings, """
                SELECT count(DISTINCT escalator) || ' escalators; late by p50 '
                       || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - due_at)) * 1000) || ' ms, p99 '
                       || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - due_at)) * 1000) || ' ms'
                  FROM escalated.escalations
                """)
            print("three daemons, 4,000 firings: \(lateness.joined())")
            for daemon in daemons { daemon.signal(SIGTERM) }
            for daemon in daemons { #expect(try await daemon.waitForExit() == 0) }
        }

        @Test("a daemon killed with SIGKILL between claiming due steps and committing: after a restart each fires once")
        func killedBetweenClaimAndCommit() async throws {
            let settings = try await TestPostgres.freshDatabase()
            let doomed = try DaemonProcess.serve(settings, environment: ["ESCALATED_TEST_HOLD_ESCALATION": "60s"])
            try await InProcessDaemon.waitForListener(settings, count: 1)
            try await TestPostgres.insertFastIssues(settings, count: 5)
            // The escalator has claimed the due steps and sits in its transaction (test hook).
            try await TestPostgres.waitUntil(settings, ResilienceTests.openBatch, equals: 1, timeout: .seconds(20))
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues WHERE next_escalation_at <= now()") == 5)
            doomed.signal(SIGKILL)
            _ = try await doomed.waitForExit()
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.escalations") == 0)

            let daemon = try DaemonProcess.serve(settings)
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.escalations", equals: 20, timeout: .seconds(30))
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.escalations") == 20)
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.events WHERE kind = 'escalated'") == 20)
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE kind <> 'routed'") == 20)
            #expect(try await TestPostgres.scalar(settings, Self.offSchedule) == 0)
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
        }

        @Test("acknowledging at the last moment races the escalator: either nothing escalates, or the escalation is recorded before the acknowledgement, never after")
        func acknowledgeRace() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await APITests.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                try await InProcessDaemon.waitForListener(settings, count: 1)
                try await TestPostgres.insertFastIssues(settings, count: 100)
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 100, timeout: .seconds(10))
                // Aim the acknowledgements at the deadline itself, by the database's clock.
                let wait = try await TestPostgres.scalar(settings, """
                    SELECT (extract(epoch FROM min(acknowledge_due_at) - clock_timestamp()) * 1000)::int8 FROM escalated.issues
                    """)
                try await Task.sleep(for: .milliseconds(max(0, wait - 40)))
                let agency = try await client.acting(as: "agency:land-dept", settings: settings)
                // All at once, over several connections (the test client has one, which would spread
                // the 100 acknowledgements over seconds, past the chain's next levels).
                let port = try #require(client.port)
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for id in 1...100 {
                        group.addTask {
                            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/issues/\(id)/acknowledge")
                            request.method = .POST
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.headers.add(name: "Authorization", value: "Bearer \(agency.token)")
                            request.body = .bytes(ByteBuffer(string: "{}"))
                            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            return HTTPResponse.Status(code: Int(response.status.code))
                        }
                    }
                    return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
                }
                #expect(statuses.allSatisfy { $0 == .ok })
                // Past the reminder and level 2 times of the acknowledgement clock.
                try await Task.sleep(for: .seconds(3))
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.issues WHERE state = 'acknowledged'") == 100)
                // No escalation after an acknowledgement, by the order of the history.
                #expect(try await TestPostgres.scalar(settings, """
                    SELECT count(*) FROM escalated.events a JOIN escalated.events e ON e.issue_id = a.issue_id
                     WHERE a.kind = 'acknowledged' AND e.kind = 'escalated' AND e.id > a.id
                    """) == 0)
                // An escalation recorded before the acknowledgement stays; every one of them was due
                // when its issue was acknowledged, on the acknowledgement clock. (Which levels that
                // is depends on how fast 100 acknowledgements commit on this machine: level 2 falls
                // 2 s after the deadline, so a loaded host may reach it, and that is correct.)
                #expect(try await TestPostgres.scalar(settings, """
                    SELECT count(*) FROM escalated.escalations x
                      JOIN escalated.events a ON a.issue_id = x.issue_id AND a.kind = 'acknowledged'
                     WHERE x.clock <> 'acknowledge' OR x.due_at > a.at
                    """) == 0)
                // The resolution clock now runs: the next step climbs above what fired.
                #expect(try await TestPostgres.scalar(settings, """
                    SELECT count(*) FROM escalated.issues
                     WHERE next_level = escalation_level + 1 AND due_at = resolve_due_at
                       AND abs(extract(epoch FROM next_escalation_at - resolve_due_at) - CASE escalation_level WHEN 0 THEN 0 ELSE 2 END) < 0.000002
                    """) == 100)
                let escalated = try await TestPostgres.scalar(settings, "SELECT count(DISTINCT issue_id) FROM escalated.escalations")
                let top = try await TestPostgres.scalar(settings, "SELECT coalesce(max(level), 0) FROM escalated.escalations")
                let span = try await TestPostgres.scalar(settings, """
                    SELECT (extract(epoch FROM max(at) - min(at)) * 1000)::int8 FROM escalated.events WHERE kind = 'acknowledged'
                    """)
                print("acknowledgement race: \(escalated) of 100 escalated before their acknowledgement (up to level \(top)), \(100 - escalated) acknowledged in time; the 100 acknowledgements committed over \(span) ms")
            }
        }

        @Test("resolving stops every later level and reminder; reopening restarts the resolution clock and climbs on")
        func resolveStopsEverything() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await APITests.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                try await InProcessDaemon.waitForListener(settings, count: 1)
                try await TestPostgres.insertFastIssues(settings, count: 20)
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.escalations", equals: 20, timeout: .seconds(10))
                for id in 1...20 {
                    let response = try await Self.post(client, "/v1/issues/\(id)/resolve", #"{"resolution":"Đã giải quyết xong"}"#)
                    #expect(response.status == .ok)
                }
                let firedBeforeResolution = try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.escalations")
                try await Task.sleep(for: .seconds(5))
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.escalations") == firedBeforeResolution)
                #expect(try await TestPostgres.scalar(settings, """
                    SELECT count(*) FROM escalated.issues
                     WHERE state = 'resolved' AND next_escalation_at IS NULL AND due_at IS NULL AND resolved_at IS NOT NULL
                    """) == 20)

                let unit = try await client.acting(as: "unit:N1", settings: settings)
                let reopened = try await Self.post(unit, "/v1/issues/1/reopen", #"{"reason":"Chưa xử lý dứt điểm"}"#)
                #expect(reopened.status == .ok)
                let issue = try APITests.object(reopened.body)
                #expect(issue["state"] as? String == "reopened")
                let escalation = try #require(issue["escalation"] as? [String: Any])
                let level = try #require(escalation["level"] as? Int)
                #expect((escalation["next"] as? [String: Any])?["level"] as? Int == level + 1)
                // 30 s to resolve again, counted from the reopening.
                #expect(try await TestPostgres.scalar(settings, """
                    SELECT count(*) FROM escalated.issues
                     WHERE id = 1 AND resolved_at IS NULL AND due_at = resolve_due_at
                       AND resolve_due_at BETWEEN now() + interval '25 seconds' AND now() + interval '31 seconds'
                    """) == 1)
                let events = try #require(issue["events"] as? [[String: Any]])
                #expect(events.suffix(2).map { $0["kind"] as? String } == ["resolved", "reopened"])
                #expect(events.last?["actor"] as? String == "unit:N1")
                #expect((events.last?["data"] as? [String: Any])?["reason"] as? String == "Chưa xử lý dứt điểm")
            }
        }

        @Test("directory changes: new deadlines apply to new issues only; a changed chain applies to open issues from their next step")
        func directoryChanges() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings) { _ in
                try await TestPostgres.insertFastIssues(settings, count: 1)
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 1, timeout: .seconds(10))
                var changed = TestDirectory.make()
                changed.sectors[2].urgent = Deadlines(acknowledgeSeconds: 20, resolveSeconds: 60)
                changed.chains[1].levels[1].notify = [.group("supervisors")]
                let directory = changed
                try await TestPostgres.withClient(settings) { client in
                    _ = try await DirectoryStore(client: client).importDirectory(directory, logger: testLogger)
                }
                try await TestPostgres.insertFastIssues(settings, count: 1)
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 2, timeout: .seconds(10))
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.escalations WHERE issue_id = 1", equals: 4, timeout: .seconds(20))
                #expect(try await TestPostgres.strings(settings, """
                    SELECT id || ':' || round(extract(epoch FROM acknowledge_due_at - created_at)) FROM escalated.issues ORDER BY id
                    """) == ["1:2", "2:20"])
                // Level 2 fired after the import: it told the supervisors, not the member.
                #expect(try await TestPostgres.strings(settings, """
                    SELECT level || '.' || repeat || ' ' || (notified->0->>'code') FROM escalated.escalations WHERE issue_id = 1 ORDER BY level, repeat
                    """) == ["1.0 land-dept", "1.1 land-dept", "2.0 office", "3.0 office"])
            }
        }

        @Test("deadlines and escalation are visible; ?overdue=true lists the longest overdue first, page by page; actions refuse what does not apply")
        func readingAndActions() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await APITests.app(settings).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                try await InProcessDaemon.waitForListener(settings, count: 1)
                try await TestPostgres.insertFastIssues(settings, count: 3)
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.escalations WHERE level = 1", equals: 3, timeout: .seconds(10))
                try await TestPostgres.insertFastIssues(settings, count: 1)
                try await TestPostgres.insertIssues(settings, count: 1)
                try await TestPostgres.waitUntil(settings, TestPostgres.routedCount + " OR state = 'routed'", equals: 5, timeout: .seconds(10))
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.issues WHERE due_at < now()", equals: 4, timeout: .seconds(10))

                var seen: [Int] = []
                var cursor: String?
                repeat {
                    let response = try await client.execute(uri: "/v1/issues?overdue=true&limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), method: .get)
                    #expect(response.status == .ok)
                    let page = try APITests.object(response.body)
                    let items = page["items"] as? [[String: Any]] ?? []
                    #expect(items.allSatisfy { ($0["deadlines"] as? [String: Any])?["overdue"] as? Bool == true })
                    seen += items.compactMap { $0["id"] as? Int }
                    cursor = page["next_cursor"] as? String
                } while cursor != nil
                #expect(seen == [1, 2, 3, 4])

                let shown = try APITests.object(try await client.execute(uri: "/v1/issues/1", method: .get).body)
                let deadlines = try #require(shown["deadlines"] as? [String: Any])
                #expect(deadlines["acknowledge_due_at"] is String && deadlines["resolve_due_at"] is String)
                #expect(deadlines["due_at"] as? String == deadlines["acknowledge_due_at"] as? String)
                let escalation = try #require(shown["escalation"] as? [String: Any])
                #expect(escalation["chain"] as? String == "fast")
                #expect((escalation["level"] as? Int ?? 0) >= 1)
                let events = try #require(shown["events"] as? [[String: Any]])
                let first = try #require(events.first { $0["kind"] as? String == "escalated" })
                #expect(first["actor"] as? String == "escalator")
                let data = try #require(first["data"] as? [String: Any])
                #expect(data["level"] as? Int == 1 && data["clock"] as? String == "acknowledge")
                #expect((data["notified"] as? [[String: Any]])?.first?["code"] as? String == "land-dept")
                // The normal `land` issue counts office hours: its deadline is in working time.
                let normal = try APITests.object(try await client.execute(uri: "/v1/issues/5", method: .get).body)
                #expect((normal["escalation"] as? [String: Any])?["chain"] as? String == "standard")

                let cases: [(String, String, HTTPResponse.Status, String?)] = [
                    ("/v1/issues/2/acknowledge", #"{}"#, .ok, nil),
                    ("/v1/issues/2/acknowledge", #"{}"#, .conflict, "state"),
                    ("/v1/issues/2/extend", #"{"deadline":"acknowledge","by":"1h","reason":"x"}"#, .conflict, "state"),
                    ("/v1/issues/2/extend", #"{"deadline":"resolve","by":"soon","reason":"x"}"#, .unprocessableContent, "by"),
                    ("/v1/issues/2/extend", #"{"deadline":"later","by":"1h","reason":"x"}"#, .badRequest, "deadline"),
                    ("/v1/issues/2/extend", #"{"deadline":"resolve","by":"1h"}"#, .badRequest, "reason"),
                    ("/v1/issues/2/resolve", #"{"resolution":"  "}"#, .unprocessableContent, "resolution"),
                    ("/v1/issues/2/resolve", #"{"resolution":"ok","colour":"red"}"#, .badRequest, "colour"),
                    ("/v1/issues/2/resolve", #"{"resolution":5}"#, .badRequest, "resolution"),
                    ("/v1/issues/2/reopen", #"{"reason":"x"}"#, .conflict, "state"),
                    ("/v1/issues/2/close", #"{}"#, .conflict, "state"),
                    ("/v1/issues/999/acknowledge", #"{}"#, .notFound, nil),
                    ("/v1/issues/abc/acknowledge", #"{}"#, .badRequest, "id"),
                    ("/v1/issues/2/acknowledge", "[1]", .badRequest, "body"),
                ]
                for (uri, body, status, field) in cases {
                    let response = try await Self.post(client, uri, body)
                    #expect(response.status == status, "\(uri) \(body): \(String(buffer: response.body))")
                    if let field { #expect(try APITests.errorField(response.body) == field, "\(uri) \(body)") }
                }
                let before = try await TestPostgres.scalar(settings, "SELECT (extract(epoch FROM resolve_due_at) * 1000000)::int8 FROM escalated.issues WHERE id = 2")
                let supervisor = try await client.acting(as: "supervisor:office", settings: settings)
                let extended = try await Self.post(supervisor, "/v1/issues/2/extend", #"{"deadline":"resolve","by":"10s","reason":"Chờ ý kiến Sở Tài chính"}"#)
                #expect(extended.status == .ok)
                let after = try await TestPostgres.scalar(settings, "SELECT (extract(epoch FROM resolve_due_at) * 1000000)::int8 FROM escalated.issues WHERE id = 2")
                #expect(after - before == 10_000_000)
                let history = try #require(try APITests.object(extended.body)["events"] as? [[String: Any]])
                let extension_ = try #require(history.last)
                #expect(extension_["kind"] as? String == "deadline_extended")
                #expect(extension_["actor"] as? String == "supervisor:office")
                #expect((extension_["data"] as? [String: Any])?["by"] as? String == "10s")
                #expect(try await Self.post(client, "/v1/issues/2/resolve", #"{"resolution":"Xong"}"#).status == .ok)
                #expect(try await Self.post(client, "/v1/issues/2/close", #"{}"#).status == .ok)
                #expect(try await Self.post(client, "/v1/issues/2/resolve", #"{"resolution":"Xong"}"#).status == .conflict)
                #expect(try await TestPostgres.scalar(settings, "SELECT version FROM escalated.issues WHERE id = 2") == 6)
            }
        }
    }
}
