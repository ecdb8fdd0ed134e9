import Foundation
import Logging
import Hummingbird
import NIOCore

/// The fields of a posted form (`application/x-www-form-urlencoded`), each value in NFC; the
/// first value of a repeated name wins.
struct FormFields: Sendable {
    private(set) var values: [String: String] = [:]

    /// The most a form may hold (the directory upload has its own limit).
    static let maximumSize = 64 * 1024

    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    init(values: [String: String]) {
        self.values = values
    }

    subscript(_ name: String) -> String? { values[name] }

    /// The trimmed value, nil when absent or blank.
    func text(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    static func read(_ request: Request, limit: Int = maximumSize) async throws -> FormFields {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Unreadable(description: "Biểu mẫu quá lớn (tối đa \(limit / 1024) KB).")
        }
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/x-www-form-urlencoded") {
            throw Unreadable(description: "Biểu mẫu phải gửi dạng application/x-www-form-urlencoded.")
        }
        return try parse(String(buffer: buffer))
    }

    /// Reads `a=1&b=x+y%C3%A0`; a malformed escape or invalid UTF-8 is refused.
    static func parse(_ text: String) throws(Unreadable) -> FormFields {
        var values: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else {
                throw Unreadable(description: "Biểu mẫu có ký tự không đọc được.")
            }
            if values[name] == nil { values[name] = value.precomposedStringWithCanonicalMapping }
        }
        return FormFields(values: values)
    }

    private static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
