import EscalationCore
import Foundation
import Testing

@Suite("Account rules: passwords, links, sessions, throttling")
struct AccountRulesTests {
    let policy = PasswordPolicy()

    func refusal(_ password: String) -> FieldError? {
        do { _ = try policy.check(password); return nil } catch { return error }
    }

    @Test("a password has at least 10 characters and at most 72 bytes, in NFC, with no control characters")
    func passwords() throws {
        #expect(try policy.check("0123456789") == "0123456789")
        #expect(refusal("012345678") == FieldError(field: "password", message: "must be at least 10 characters"))
        // Vietnamese letters are counted as characters for the minimum: 10 of them, 2 or 3 bytes each.
        #expect(refusal("ệệệệệệệệệệ") == nil)
        // 72 bytes pass; 73 are refused, not cut (bcrypt would ignore the rest).
        #expect(refusal(String(repeating: "a", count: 72)) == nil)
        #expect(refusal(String(repeating: "a", count: 73))?.message.hasPrefix("must be at most 72 bytes") == true)
        #expect(refusal(String(repeating: "ệ", count: 24)) == nil, "24 × 3 bytes")
        #expect(refusal(String(repeating: "ệ", count: 25))?.message.hasPrefix("must be at most 72 bytes") == true)
        // Decomposed input (e + combining marks) is measured and returned composed.
        let decomposed = String(repeating: "ệ", count: 24).decomposedStringWithCanonicalMapping
        #expect(decomposed.utf8.count > 72)
        #expect(try policy.check(decomposed) == String(repeating: "ệ", count: 24))
        #expect(refusal("mười ký tự\u{0}")?.message == "must not contain control characters")
        #expect(refusal("mười ký tự\n")?.message == "must not contain control characters")
        #expect((try? PasswordPolicy(minimumLength: 12).check("0123456789a")) == nil)
        #expect(PasswordPolicy(maximumBytes: 100).maximumBytes == 72, "never more than bcrypt reads")
        do {
            _ = try policy.check("short", field: "new_password")
            Issue.record("accepted a short password")
        } catch {
            #expect(error.field == "new_password")
        }
    }

    @Test("emails and locales are checked, naming the field")
    func emailsAndLocales() throws {
        #expect(try AccountText.email("  lan@example.org ") == "lan@example.org")
        for bad in ["", "lan", "lan@example", "@example.org", "a b@example.org", "<lan@example.org>", "a@b@example.org"] {
            #expect(throws: FieldError.self, "\(bad)") { try AccountText.email(bad) }
        }
        #expect(!EmailAddress.isValid(String(repeating: "a", count: 250) + "@x.vn"))
        #expect(try AccountText.locale(nil) == .vi)
        #expect(try AccountText.locale("en") == .en)
        #expect(throws: FieldError(field: "--locale", message: "must be 'vi' or 'en' (got 'fr')")) { try AccountText.locale("fr", field: "--locale") }
    }

    @Test("an invitation lives 7 days and a reset 1 hour; each opens its own page")
    func links() {
        #expect(LinkPurpose.invitation.defaultLifetime == .seconds(7 * 86_400))
        #expect(LinkPurpose.reset.defaultLifetime == .seconds(3600))
        #expect(LinkPurpose.invitation.path(secret: "abc") == "/invite/abc")
        #expect(LinkPurpose.reset.path(secret: "abc") == "/reset/abc")
    }

    @Test("a session ends 8 hours idle or 7 days after sign-in, and is touched at most once a minute")
    func sessions() {
        let policy = SessionPolicy()
        let start = Date(timeIntervalSince1970: 1_750_000_000)
        #expect(policy.decide(createdAt: start, lastSeenAt: start, now: start) == .valid(touch: false))
        #expect(policy.decide(createdAt: start, lastSeenAt: start, now: start + 59) == .valid(touch: false))
        #expect(policy.decide(createdAt: start, lastSeenAt: start, now: start + 60) == .valid(touch: true))
        #expect(policy.decide(createdAt: start, lastSeenAt: start, now: start + 8 * 3600 - 1) == .valid(touch: true))
        #expect(policy.decide(createdAt: start, lastSeenAt: start, now: start + 8 * 3600) == .expired(.idle))
        // Busy all week: still ends 7 days after sign-in.
        let week = 7.0 * 86_400
        #expect(policy.decide(createdAt: start, lastSeenAt: start + week - 10, now: start + week - 1) == .valid(touch: false))
        #expect(policy.decide(createdAt: start, lastSeenAt: start + week - 10, now: start + week) == .expired(.absolute))
        // Both past: the absolute limit is named.
        #expect(policy.decide(createdAt: start, lastSeenAt: start, now: start + week) == .expired(.absolute))
        let short = SessionPolicy(idle: .seconds(10), absolute: .seconds(100), touchInterval: .milliseconds(500))
        #expect(short.decide(createdAt: start, lastSeenAt: start, now: start + 0.5) == .valid(touch: true))
        #expect(short.decide(createdAt: start, lastSeenAt: start + 1, now: start + 11) == .expired(.idle))
    }

    @Test("sign-ins are refused after 5 failures per account or 20 per address in 15 minutes, until the failure that tipped it leaves the window")
    func throttle() {
        let policy = ThrottlePolicy()
        let now = Date(timeIntervalSince1970: 1_750_000_000)
        let minutes = { (ago: [Double]) in ago.map { now - $0 * 60 } }
        #expect(policy.decide(accountFailures: [], addressFailures: [], now: now) == .allow)
        #expect(policy.decide(accountFailures: minutes([1, 2, 3, 4]), addressFailures: [], now: now) == .allow)
        // Five in the window: wait until the oldest of them is 15 minutes old.
        #expect(policy.decide(accountFailures: minutes([1, 2, 3, 4, 10]), addressFailures: [], now: now) == .refuse(retryAt: now + 5 * 60))
        // Order does not matter; with more than five, the fifth most recent decides.
        #expect(policy.decide(accountFailures: minutes([10, 4, 14, 1, 2, 3]), addressFailures: [], now: now) == .refuse(retryAt: now + 5 * 60))
        // Failures older than the window, or in the future, do not count.
        #expect(policy.decide(accountFailures: minutes([1, 2, 3, 4, 15, 16]), addressFailures: [], now: now) == .allow)
        #expect(policy.decide(accountFailures: minutes([1, 2, 3, 4, -1]), addressFailures: [], now: now) == .allow)
        // Per address: 20.
        // Nineteen failures every 30 s (the oldest 9.5 minutes ago), then one more.
        let nineteen = minutes((1...19).map { Double($0) / 2 })
        #expect(policy.decide(accountFailures: [], addressFailures: nineteen, now: now) == .allow)
        #expect(policy.decide(accountFailures: [], addressFailures: nineteen + minutes([0.25]), now: now) == .refuse(retryAt: now + 330))
        // Both over: the later retry time.
        #expect(policy.decide(accountFailures: minutes([1, 1, 1, 1, 1]), addressFailures: nineteen + minutes([0.25]), now: now)
                == .refuse(retryAt: now + 14 * 60))
        let strict = ThrottlePolicy(window: .seconds(60), perAccount: 1, perAddress: 1)
        #expect(strict.decide(accountFailures: [now - 30], addressFailures: [], now: now) == .refuse(retryAt: now + 30))
    }

    @Test("durations convert to Foundation's seconds")
    func durations() {
        #expect(Duration.seconds(90).timeInterval == 90)
        #expect(Duration.milliseconds(1500).timeInterval == 1.5)
    }
}
