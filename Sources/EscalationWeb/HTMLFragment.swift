import Foundation
import Mustache

/// HTML made in Swift instead of by a template, for the part of a page that has thousands of values
/// (a national dashboard's grid of units), where Mustache's lookups of each value (several dynamic
/// casts apiece) cost most of the page's rendering.
///
/// It is as safe as a template: its markup comes only from string literals (`StaticString`, so no
/// value can become markup), and every value goes through ``PageRenderer/escape(_:)``. A template
/// places it with a plain `{{name}}` tag, which renders the fragment's token (random per fragment,
/// so no text on the page can spell it); ``PageRenderer/render(_:_:status:)`` then puts the HTML in
/// the token's place. Only a fragment among a page's top-level values is put in place.
struct HTMLFragment: MustacheCustomRenderable {
    private(set) var bytes: [UInt8] = []
    /// What the template renders, replaced afterwards.
    let token = "escalated-fragment-" + UUID().uuidString

    init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// Markup, written as it is: a literal of the code, never a value.
    mutating func markup(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A value, HTML-escaped.
    mutating func text(_ value: String) {
        bytes.append(contentsOf: PageRenderer.escape(value).utf8)
    }

    /// A number (nothing to escape).
    mutating func number(_ value: Int) {
        bytes.append(contentsOf: String(value).utf8)
    }

    var html: String { String(decoding: bytes, as: UTF8.self) }

    var renderText: String { token }
    var isNull: Bool { false }

    /// `page` with each fragment's token replaced by its HTML (the first occurrence; a template
    /// names a fragment once).
    static func place(_ fragments: [HTMLFragment], in page: String) -> [UInt8] {
        var out = Array(page.utf8)
        for fragment in fragments {
            let token = Array(fragment.token.utf8)
            guard let start = firstIndex(of: token, in: out) else { continue }
            out.replaceSubrange(start..<start + token.count, with: fragment.bytes)
        }
        return out
    }

    static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            guard let found = haystack[index...last].firstIndex(of: first) else { return nil }
            if haystack[found..<found + needle.count].elementsEqual(needle) { return found }
            index = found + 1
        }
        return nil
    }
}
