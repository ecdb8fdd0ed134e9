import Foundation

/// Reads mail headers the way a mail reader shows them, for the tests of the email hook.
public enum EncodedWords {
    /// Unfolds a header value (CRLF or LF followed by a space or a tab) and decodes its RFC 2047
    /// B-encoded UTF-8 words, as our messages write them. Space between adjacent encoded words is
    /// not part of the text.
    public static func decode(_ value: String) -> String {
        var unfolded = value
        for fold in ["\r\n ", "\r\n\t", "\n ", "\n\t"] { unfolded = unfolded.replacingOccurrences(of: fold, with: " ") }
        var out = ""
        var rest = Substring(unfolded)
        while let start = rest.range(of: "=?UTF-8?B?") {
            out += rest[..<start.lowerBound]
            let after = rest[start.upperBound...]
            guard let end = after.range(of: "?=") else { break }
            out += String(decoding: Data(base64Encoded: String(after[..<end.lowerBound])) ?? Data(), as: UTF8.self)
            rest = after[end.upperBound...]
            while rest.hasPrefix(" =?UTF-8?B?") { rest = rest.dropFirst() }
        }
        return out + rest
    }
}
