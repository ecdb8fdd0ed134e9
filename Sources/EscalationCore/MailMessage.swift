public import Foundation

/// An email address with an optional display name.
///
/// The address must be plain ASCII `local@domain` with no spaces, angle brackets or control
/// characters, so it can go into a header or an SMTP command as it is.
public struct MailAddress: Sendable, Hashable {
    public var name: String?
    public var address: String

    public init?(name: String? = nil, address: String) {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), address.utf8.count <= 254,
              address.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F && !"<>()[]\\,;:\"".unicodeScalars.contains($0) })
        else { return nil }
        self.name = name
        self.address = address
    }

    public var domain: String { String(address.split(separator: "@").last ?? "") }

    /// `"Name" <address>`, the name as an RFC 2047 encoded word when it is not plain ASCII text.
    var header: String {
        guard let name, !MailHeader.sanitized(name).isEmpty else { return "<\(address)>" }
        let clean = MailHeader.sanitized(name)
        // Folded before the address, so that header lines stay within 78 characters.
        if MailHeader.isPlainPhrase(clean) { return clean.count + address.count < 60 ? "\"\(clean)\" <\(address)>" : "\"\(clean)\"\r\n <\(address)>" }
        return MailHeader.encodedWords(clean).joined(separator: "\r\n ") + "\r\n <\(address)>"
    }
}

/// Header values: control characters become spaces (so no value can end a header line or start
/// another one), and anything that is not printable ASCII travels as RFC 2047 encoded words.
public enum MailHeader {
    /// The value with every control character (CR and LF included) replaced by a space, trimmed.
    public static func sanitized(_ value: String) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.map { $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" ? " " : $0 }))
            .trimmingCharacters(in: .whitespaces)
    }

    static func isPlainPhrase(_ value: String) -> Bool {
        value.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" }
    }

    /// `=?UTF-8?B?...?=` words of at most 64 characters (so a folded line holding one stays within
    /// 78 with a header name before it), split between characters, never inside one.
    public static func encodedWords(_ value: String) -> [String] {
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in value {
            let bytes = Array(String(character).utf8)
            // 39 bytes of UTF-8 make 52 base64 characters: 64 with the `=?UTF-8?B?` and `?=` around them.
            if chunk.count + bytes.count > 39, !chunk.isEmpty {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words
    }

    /// A complete header line (without its final CRLF), folded: plain ASCII as it is when it fits,
    /// otherwise encoded words, one per folded line.
    public static func line(_ name: String, _ value: String) -> String {
        let clean = sanitized(value)
        if clean.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F }), name.count + 2 + clean.count <= 78,
           !clean.contains("=?") {
            return "\(name): \(clean)"
        }
        return "\(name): " + encodedWords(clean).joined(separator: "\r\n ")
    }
}

/// An email as RFC 5322 text: headers, then a multipart/alternative body of plain text and HTML,
/// both UTF-8 and base64 (so no body line is long, starts with a dot, or looks like a boundary).
public struct MailMessage: Sendable {
    public var from: MailAddress
    public var to: [MailAddress]
    public var subject: String
    public var text: String
    public var html: String?
    /// Without angle brackets; the same for every resend of one delivery, so mail systems can
    /// drop duplicates.
    public var messageID: String
    public var date: Date
    /// Extra headers, such as `X-Escalated-Issue`; names must be letters, digits and `-`.
    public var extraHeaders: [(String, String)]

    public init(from: MailAddress, to: [MailAddress], subject: String, text: String, html: String? = nil,
                messageID: String, date: Date, extraHeaders: [(String, String)] = []) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
        self.extraHeaders = extraHeaders
    }

    /// A stable Message-ID for a delivery: the same input gives the same id.
    public static func messageID(delivery: Int64, issue: Int64?, domain: String) -> String {
        "escalated.\(issue.map { "\($0)." } ?? "")d\(delivery)@\(domain)"
    }

    /// `Thu, 27 Nov 2026 09:51:43 +0000`. Worked out from the seconds since 1970 (the proleptic
    /// Gregorian calendar in UTC), with no Calendar made per message: this runs for every email.
    public static func rfc5322Date(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let ofDay = (seconds % 86_400 + 86_400) % 86_400
        let civil = SubscriptionPeriod.civil((seconds - ofDay) / 86_400)
        let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        let paddedYear = String(repeating: "0", count: max(0, 4 - String(civil.year).count)) + String(civil.year)
        return "\(days[SubscriptionPeriod.isoWeekday(civil) - 1]), \(twoDigits(civil.day)) \(englishMonthAbbreviations[civil.month - 1]) \(paddedYear) \(twoDigits(ofDay / 3_600)):\(twoDigits(ofDay / 60 % 60)):\(twoDigits(ofDay % 60)) +0000"
    }

    /// Base64 in lines of 76 characters, CRLF-separated (cut as bytes: base64 is ASCII).
    static func base64Lines(_ text: String) -> String {
        let encoded = Data(text.utf8).base64EncodedData()
        var out: [UInt8] = []
        out.reserveCapacity(encoded.count + encoded.count / 76 * 2)
        var index = encoded.startIndex
        while index < encoded.endIndex {
            if index != encoded.startIndex { out += [13, 10] }
            let end = min(index + 76, encoded.endIndex)
            out += encoded[index..<end]
            index = end
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The message, lines ending in CRLF.
    public func rendered() -> String {
        var lines = [
            MailHeader.line("Date", Self.rfc5322Date(date)),
            "From: " + from.header,
            "To: " + to.map(\.header).joined(separator: ",\r\n "),
            MailHeader.line("Subject", subject),
            "Message-ID: <\(messageID)>",
            "MIME-Version: 1.0",
        ]
        for (name, value) in extraHeaders where !name.isEmpty && name.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil)) || $0 == "-" }) {
            lines.append(MailHeader.line(name, value))
        }
        let textPart = ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "", Self.base64Lines(text)]
        if let html {
            let boundary = "=_escalated_" + String(String.UnicodeScalarView(messageID.unicodeScalars.filter { $0.properties.isAlphabetic || $0.properties.numericType != nil }).prefix(40))
            lines.append("Content-Type: multipart/alternative;\r\n boundary=\"\(boundary)\"")
            lines.append("")
            lines.append("--" + boundary)
            lines += textPart
            lines.append("--" + boundary)
            lines += ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64", "", Self.base64Lines(html)]
            lines.append("--" + boundary + "--")
        } else {
            lines += textPart
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}
