import EscalationCore
import EscalationTestSupport
import Foundation
import Testing

@Suite("Mail messages and delivery decisions")
struct DeliveryTests {
    static let from = MailAddress(name: "escalated", address: "escalated@example.org")!
    static let date = Date(timeIntervalSince1970: 1_750_000_000)

    /// Unfolds and decodes RFC 2047 encoded words, the way a mail reader shows a header.
    static func decode(_ header: String) -> String { EncodedWords.decode(header) }

    func header(_ message: String, _ name: String) -> String? {
        let head = message.components(separatedBy: "\r\n\r\n")[0]
        var lines: [String] = []
        for line in head.components(separatedBy: "\r\n") {
            if line.hasPrefix(" "), !lines.isEmpty { lines[lines.count - 1] += "\r\n" + line } else { lines.append(line) }
        }
        return lines.first { $0.hasPrefix(name + ": ") }.map { String($0.dropFirst(name.count + 2)) }
    }

    @Test("Vietnamese subjects and names travel as encoded words of at most 64 characters, every line at most 78, and read back exactly")
    func encodedWords() throws {
        let subject = "Quá hạn tiếp nhận: Chậm cấp giấy chứng nhận quyền sử dụng đất tại Phường Sa Pa (cấp 2)"
        let to = try #require(MailAddress(name: "Sở Nông nghiệp và Môi trường", address: "so-nn-mt@example.org"))
        let message = MailMessage(from: Self.from, to: [to], subject: subject, text: "Nội dung", html: "<p>Nội dung</p>",
                                  messageID: MailMessage.messageID(delivery: 7, issue: 3, domain: "example.org"), date: Self.date).rendered()
        #expect(Self.decode(try #require(header(message, "Subject"))) == subject)
        #expect(Self.decode(try #require(header(message, "To"))) == "Sở Nông nghiệp và Môi trường <so-nn-mt@example.org>")
        for line in message.components(separatedBy: "\r\n") { #expect(line.utf8.count <= 78, "\(line)") }
        for word in message.split(separator: " ") where word.hasPrefix("=?") { #expect(word.count <= 64 + 2) }
        #expect(message.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(header(message, "Message-ID") == "<escalated.3.d7@example.org>")
        #expect(header(message, "Date") == "Sun, 15 Jun 2025 15:06:40 +0000")
    }

    @Test("no value can add a header: CR, LF and other control characters in any field become spaces")
    func headerInjection() throws {
        let hostile = "Tiêu đề\r\nBcc: victim@example.org\nX-Evil: 1"
        let to = try #require(MailAddress(name: "Name\r\nBcc: x@example.org", address: "a@example.org"))
        let message = MailMessage(from: Self.from, to: [to], subject: hostile, text: "a\r\n.\r\nb", messageID: "m@example.org", date: Self.date,
                                  extraHeaders: [("X-Escalated-Issue", "1\r\nBcc: y@example.org"), ("Bad Name:", "x")]).rendered()
        let head = message.components(separatedBy: "\r\n\r\n")[0]
        for line in head.components(separatedBy: "\r\n") {
            #expect(!line.lowercased().hasPrefix("bcc:") && !line.hasPrefix("X-Evil") && !line.hasPrefix("Bad Name"), "\(line)")
        }
        #expect(Self.decode(try #require(header(message, "Subject"))) == "Tiêu đề  Bcc: victim@example.org X-Evil: 1")
        #expect(header(message, "X-Escalated-Issue") == "1  Bcc: y@example.org")
        // The body travels as base64: no line of it can start with a dot or be a boundary.
        #expect(!message.components(separatedBy: "\r\n").contains("."))
        #expect(MailAddress(address: "a@b.org\r\nRCPT TO:<x@y.org>") == nil)
        #expect(MailAddress(address: "not an address") == nil)
        #expect(MailAddress(address: "<a@b.org>") == nil)
    }

    @Test("the Date header is the calendar's own reading of the instant, across leap days, years and centuries")
    func dates() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let formatter = DateFormatter()
        formatter.calendar = calendar
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = calendar.timeZone
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        var instants: [Double] = [0, -1, 86_399, 86_400, 951_782_400, 951_868_799, 1_709_164_800, 4_107_542_399, 4_107_542_400, 32_503_680_000, 1_750_000_000.75]
        // Every 3,001,003 s (about 35 days and a few hours, so every weekday, day of the month and hour) from 1900 to 2110.
        var t = -2_208_988_800.0
        while t < 4_418_150_400 { instants.append(t); t += 3_001_003 }
        for instant in instants {
            let date = Date(timeIntervalSince1970: instant)
            #expect(MailMessage.rfc5322Date(date) == formatter.string(from: date), "\(instant)")
        }
        #expect(MailMessage.rfc5322Date(Date(timeIntervalSince1970: 951_782_400)) == "Tue, 29 Feb 2000 00:00:00 +0000")
    }

    @Test("a base64 body is cut into lines of at most 76 characters that decode back to the text")
    func bodyLines() throws {
        for length in [0, 1, 56, 57, 58, 114, 1_000] {
            let text = String(repeating: "ệ", count: length)
            let message = MailMessage(from: Self.from, to: [Self.from], subject: "s", text: text, messageID: "b@example.org", date: Self.date).rendered()
            let body = try #require(message.components(separatedBy: "\r\n\r\n").last).trimmingCharacters(in: .whitespacesAndNewlines)
            let lines = body.components(separatedBy: "\r\n")
            #expect(lines.allSatisfy { $0.count <= 76 && !$0.isEmpty } || length == 0, "\(length)")
            #expect(lines.dropLast().allSatisfy { $0.count == 76 }, "\(length)")
            #expect(String(decoding: Data(base64Encoded: lines.joined()) ?? Data([0xFF]), as: UTF8.self) == text, "\(length)")
        }
    }

    @Test("text and HTML parts carry the bodies exactly, in UTF-8 and base64")
    func parts() throws {
        let text = "Xã Bát Xát 1 báo cáo: \"đường hỏng\"\n" + String(repeating: "ệ", count: 500)
        let html = "<p>&lt;script&gt; đã được thoát</p>"
        let message = MailMessage(from: Self.from, to: [Self.from], subject: "s", text: text, html: html, messageID: "id-1@example.org", date: Self.date).rendered()
        let boundary = try #require(header(message, "Content-Type")?.components(separatedBy: "boundary=\"").last?.dropLast())
        #expect(boundary.hasPrefix("=_escalated_"))
        let parts = message.components(separatedBy: "--" + boundary)
        #expect(parts.count == 4)
        func body(_ part: String) -> String {
            let encoded = part.components(separatedBy: "\r\n\r\n")[1].replacingOccurrences(of: "\r\n", with: "")
            return String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
        }
        #expect(body(parts[1]) == text)
        #expect(body(parts[2]) == html)
        #expect(parts[1].contains("Content-Type: text/plain; charset=utf-8"))
        #expect(parts[2].contains("Content-Type: text/html; charset=utf-8"))
    }

    @Test("SMTP 2xx/3xx sent, 4xx retried, 5xx dead at once; HTTP 2xx sent, 408, 429 and 5xx retried, other 4xx dead at once")
    func classification() {
        #expect(DeliveryOutcome.smtp(code: 250, text: "OK") == .sent("250 OK"))
        #expect(DeliveryOutcome.smtp(code: 451, text: "try later") == .transient("451 try later"))
        #expect(DeliveryOutcome.smtp(code: 550, text: "no such user") == .permanent("550 no such user"))
        for status in [200, 201, 204] { #expect(DeliveryOutcome.http(status: status, text: "") == .sent("\(status) ")) }
        for status in [408, 429, 500, 502, 503] { #expect(DeliveryOutcome.http(status: status, text: "") == .transient("\(status) ")) }
        for status in [301, 400, 401, 403, 404, 410, 422] { #expect(DeliveryOutcome.http(status: status, text: "") == .permanent("\(status) ")) }
    }

    @Test("backoff doubles from the initial delay up to the cap, with jitter between half and all of it; the last attempt dead-letters")
    func backoff() {
        let policy = RetryPolicy(initialSeconds: 30, maximumSeconds: 3600, maximumAttempts: 5)
        #expect(policy.delay(afterAttempt: 1, jitter: 1) == 30)
        #expect(policy.delay(afterAttempt: 1, jitter: 0) == 15)
        #expect(policy.delay(afterAttempt: 3, jitter: 1) == 120)
        #expect(policy.delay(afterAttempt: 20, jitter: 1) == 3600)
        #expect(policy.delay(afterAttempt: 100, jitter: 0.5) == 2700)
        #expect(policy.decide(.transient("421"), attempt: 4, jitter: 1) == .retry(afterSeconds: 240))
        #expect(policy.decide(.transient("421"), attempt: 5, jitter: 1) == .dead)
        #expect(policy.decide(.permanent("550"), attempt: 1, jitter: 1) == .dead)
        #expect(policy.decide(.sent("250"), attempt: 3, jitter: 1) == .sent)
        var random = SeededGenerator(state: 5)
        for attempt in 1...40 {
            let jitter = Double.random(in: 0...1, using: &random)
            let delay = policy.delay(afterAttempt: attempt, jitter: jitter)
            let base = min(3600, 30 * pow(2, Double(attempt - 1)))
            #expect(delay >= base / 2 && delay <= base)
        }
    }
}
