import EscalationCore
@testable import EscalationDelivery
import Foundation
import NIOCore
import Testing

@Suite("SMTP DATA block")
struct SMTPDataTests {
    /// The block as RFC 5321 4.5.2 spells it, written the slow way: split into lines, a dot
    /// added before each line that starts with one, the lone dot after.
    static func expected(_ rendered: String) -> String {
        var lines = rendered.components(separatedBy: "\r\n")
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasPrefix(".") ? "." + $0 : $0 }.map { $0 + "\r\n" }.joined() + ".\r\n"
    }

    static func block(_ rendered: String) -> String {
        var buffer = SMTPSession.dataBlock(rendered)
        return buffer.readString(length: buffer.readableBytes) ?? ""
    }

    @Test("lines that start with a dot get another, and only those", arguments: [
        "Subject: a\r\n\r\n.\r\n",
        ".first line\r\nsecond .not\r\n..two\r\n",
        "Tiêu đề: Báo cáo\r\n.Phường Bắc Cường\r\n\r\n. \r\n",
        "a.\r\n.b\r\n",
        "no final break.",
        "\r\n.\r\n.\r\n",
    ])
    func stuffed(_ rendered: String) {
        #expect(Self.block(rendered) == Self.expected(rendered))
    }

    @Test("a rendered email goes out as its lines, ending in the lone dot")
    func renderedEmail() throws {
        let from = try #require(MailAddress(name: "Escalated", address: "escalated@example.org"))
        let to = try #require(MailAddress(name: "Sở Tài nguyên và Môi trường", address: "stnmt@example.org"))
        let message = MailMessage(from: from, to: [to], subject: ".Báo cáo khó khăn số 1", text: ".một\r\n..hai", html: "<p>.</p>",
                                  messageID: "delivery-1@example.org", date: Date(timeIntervalSince1970: 1_764_000_000))
        let rendered = message.rendered()
        let block = Self.block(rendered)
        #expect(block == Self.expected(rendered))
        #expect(block.hasSuffix("\r\n.\r\n"))
        #expect(!block.dropLast(3).contains("\r\n.\r\n"))
    }
}
