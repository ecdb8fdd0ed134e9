import EscalationCore
import EscalationStore
import Foundation
@testable import EscalationWeb
import Testing

@Suite("Web: live updates (Server-Sent Events, scope, the feed's cursor)")
struct LiveTests {
    static func event(_ id: Int64, issue: Int64 = 7, kind: String = "acknowledged", unit: String = "LC-SAPA-01", member: String? = "m-sa-pa",
                      agencies: [String] = ["so-y-te"], people: [String] = []) -> EventFeedStore.Event {
        EventFeedStore.Event(id: id, issueID: issue, kind: kind, unit: unit, member: member, agencies: agencies, people: people)
    }

    // MARK: The message

    @Test("One event is one SSE message: id, event, data as JSON, a blank line")
    func message() {
        #expect(WebApp.sse(Self.event(42, issue: 7, kind: "acknowledged")) == "id: 42\nevent: issue\ndata: {\"issue\":7,\"kind\":\"acknowledged\"}\n\n")
        #expect(WebApp.sse(Self.event(9_000_000_001, issue: 123_456, kind: "deadline_extended"))
                == "id: 9000000001\nevent: issue\ndata: {\"issue\":123456,\"kind\":\"deadline_extended\"}\n\n")
    }

    @Test("A kind cannot break the message or its JSON")
    func hostileKind() throws {
        let text = WebApp.sse(Self.event(5, kind: "x\"}\n\nevent: reload\ndata: {\"a\":\"\\"))
        #expect(text.hasPrefix("id: 5\nevent: issue\ndata: "))
        #expect(text.components(separatedBy: "\n").count == 5, "three lines and the blank one: \(text.debugDescription)")
        let data = try #require(text.split(separator: "\n").last?.dropFirst("data: ".count))
        let json = try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]
        #expect(json?["issue"] as? Int == 7)
        #expect(json?["kind"] as? String == "xeventreloaddataa")
    }

    // MARK: Scope

    @Test("Supervisors and the operator see every event")
    func everyone() {
        let e = Self.event(1, unit: "LC-BX-01", member: nil, agencies: [], people: [])
        #expect(e.isVisible(to: Actor(kind: .supervisor, code: "vp-ubnd")))
        #expect(e.isVisible(to: .admin))
    }

    @Test("A unit sees its own issues only, by its code")
    func unit() {
        let e = Self.event(1, unit: "LC-SAPA-01", member: "LC-SAPA-02", agencies: ["LC-SAPA-03"], people: ["LC-SAPA-04"])
        #expect(e.isVisible(to: Actor(kind: .unit, code: "LC-SAPA-01")))
        for other in ["LC-SAPA-02", "LC-SAPA-03", "LC-SAPA-04", "lc-sapa-01"] {
            #expect(!e.isVisible(to: Actor(kind: .unit, code: other)), "\(other)")
        }
        #expect(!e.isVisible(to: Actor(kind: .unit, code: nil)))
    }

    @Test("An agency sees what is assigned to it, responsible or handed over")
    func agency() {
        let e = Self.event(1, unit: "so-xay-dung", member: "so-xay-dung", agencies: ["so-y-te", "so-tai-chinh"], people: ["so-noi-vu"])
        #expect(e.isVisible(to: Actor(kind: .agency, code: "so-y-te")))
        #expect(e.isVisible(to: Actor(kind: .agency, code: "so-tai-chinh")))
        #expect(!e.isVisible(to: Actor(kind: .agency, code: "so-xay-dung")), "a unit or member of that code is not an assignment")
        #expect(!e.isVisible(to: Actor(kind: .agency, code: "so-noi-vu")), "a person assigned is not the agency")
        #expect(!e.isVisible(to: Actor(kind: .agency, code: nil)))
        #expect(!Self.event(2, agencies: []).isVisible(to: Actor(kind: .agency, code: "so-y-te")))
    }

    @Test("A member sees the issues of their area and those they are assigned to")
    func member() {
        let e = Self.event(1, unit: "m-x", member: "m-sa-pa", agencies: ["m-y"], people: ["vp-tinh-uy"])
        #expect(e.isVisible(to: Actor(kind: .member, code: "m-sa-pa")), "member in charge of the area")
        #expect(e.isVisible(to: Actor(kind: .member, code: "vp-tinh-uy")), "assigned by a rule or watching")
        #expect(!e.isVisible(to: Actor(kind: .member, code: "m-bac-ha")))
        #expect(!e.isVisible(to: Actor(kind: .member, code: "m-x")), "a unit of that code is not theirs")
        #expect(!e.isVisible(to: Actor(kind: .member, code: "m-y")), "an agency of that code is not theirs")
        #expect(!e.isVisible(to: Actor(kind: .member, code: nil)))
        #expect(!Self.event(2, member: nil, people: []).isVisible(to: Actor(kind: .member, code: "m-sa-pa")))
    }

    // MARK: The cursor

    @Test("Ids skipped are remembered: over 1, 2, 5, ids 3 and 4 are missing")
    func skipped() {
        var cursor = FeedCursor(highest: 0)
        let t0 = ContinuousClock.now
        let fresh = cursor.advance(with: [Self.event(1), Self.event(2), Self.event(5)], now: t0)
        #expect(fresh.map(\.id) == [1, 2, 5])
        #expect(cursor.highest == 5)
        #expect(cursor.missingIDs == [3, 4])
    }

    @Test("A late id is handed out once, then forgotten; ids seen are never handed out twice")
    func late() {
        var cursor = FeedCursor(highest: 0)
        let t0 = ContinuousClock.now
        _ = cursor.advance(with: [Self.event(1), Self.event(2), Self.event(5)], now: t0)
        // The next read asks for 3 and 4 and for what is after 5: 4 has committed, and 6.
        #expect(cursor.advance(with: [Self.event(4), Self.event(6)], now: t0 + .seconds(1)).map(\.id) == [4, 6])
        #expect(cursor.missingIDs == [3])
        #expect(cursor.highest == 6)
        // Read again (the same rows come back): nothing new.
        #expect(cursor.advance(with: [Self.event(4), Self.event(6)], now: t0 + .seconds(2)).isEmpty)
        #expect(cursor.advance(with: [Self.event(1), Self.event(2), Self.event(5)], now: t0 + .seconds(2)).isEmpty)
        #expect(cursor.missingIDs == [3])
        #expect(cursor.advance(with: [Self.event(3)], now: t0 + .seconds(3)).map(\.id) == [3])
        #expect(cursor.missingIDs.isEmpty)
        #expect(cursor.advance(with: [Self.event(3)], now: t0 + .seconds(4)).isEmpty)
    }

    @Test("A feed that starts at the newest id hands out only what comes after it")
    func start() {
        var cursor = FeedCursor(highest: 100)
        #expect(cursor.advance(with: [Self.event(99), Self.event(100)]).isEmpty)
        #expect(cursor.missingIDs.isEmpty)
        #expect(cursor.advance(with: [Self.event(101)]).map(\.id) == [101])
    }

    @Test("Missing ids older than patience are dropped; a rolled-back id turning up later is not handed out")
    func patience() {
        var cursor = FeedCursor(highest: 0)
        cursor.patience = .seconds(30)
        let t0 = ContinuousClock.now
        _ = cursor.advance(with: [Self.event(1), Self.event(4)], now: t0)
        #expect(cursor.missingIDs == [2, 3])
        // Missed again 10 s later: 6 is new, 5 missing since now.
        _ = cursor.advance(with: [Self.event(6)], now: t0 + .seconds(10))
        #expect(cursor.missingIDs == [2, 3, 5])
        _ = cursor.advance(with: [EventFeedStore.Event](), now: t0 + .seconds(29))
        #expect(cursor.missingIDs == [2, 3, 5], "still within patience")
        _ = cursor.advance(with: [EventFeedStore.Event](), now: t0 + .seconds(31))
        #expect(cursor.missingIDs == [5], "2 and 3 waited more than 30 s")
        #expect(cursor.advance(with: [Self.event(2)], now: t0 + .seconds(32)).isEmpty)
        #expect(cursor.advance(with: [Self.event(5)], now: t0 + .seconds(33)).map(\.id) == [5])
        #expect(cursor.missingIDs.isEmpty)
    }

    @Test("A wide gap is remembered up to maximumMissing ids")
    func wideGap() {
        var cursor = FeedCursor(highest: 0)
        let fresh = cursor.advance(with: [Self.event(10_000)], now: .now)
        #expect(fresh.map(\.id) == [10_000])
        #expect(cursor.highest == 10_000)
        #expect(cursor.missingIDs.count == FeedCursor.maximumMissing)
        _ = cursor.advance(with: [Self.event(20_000)], now: .now)
        #expect(cursor.missingIDs.count == FeedCursor.maximumMissing)
    }
}
