/// Splits a SQL script into statements, for drivers that run one statement per query.
///
/// Semicolons inside single-quoted strings, double-quoted identifiers, dollar-quoted bodies
/// (`$$ ... $$`, `$tag$ ... $tag$`), line comments and block comments (nested, as PostgreSQL
/// allows) do not split. Statements that hold only comments and white space are dropped.
enum SQLScript {
    static func statements(_ script: String) -> [String] {
        let s = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var hasCode = false
        var i = 0
        func flush() {
            let text = String(current).trimmingWhitespace()
            if hasCode && !text.isEmpty { statements.append(text) }
            current = String.UnicodeScalarView()
            hasCode = false
        }
        func copy(_ count: Int) {
            current.append(contentsOf: s[i..<min(i + count, s.count)])
            i = min(i + count, s.count)
        }
        while i < s.count {
            let c = s[i]
            let next: Unicode.Scalar? = i + 1 < s.count ? s[i + 1] : nil
            if c == "-" && next == "-" {
                while i < s.count && s[i] != "\n" { copy(1) }
            } else if c == "/" && next == "*" {
                var depth = 0
                repeat {
                    if s[i] == "/" && i + 1 < s.count && s[i + 1] == "*" { depth += 1; copy(2) }
                    else if s[i] == "*" && i + 1 < s.count && s[i + 1] == "/" { depth -= 1; copy(2) }
                    else { copy(1) }
                } while i < s.count && depth > 0
            } else if c == "'" || c == "\"" {
                hasCode = true
                copy(1)
                while i < s.count {
                    if s[i] == c {
                        if i + 1 < s.count && s[i + 1] == c { copy(2); continue }
                        copy(1)
                        break
                    }
                    copy(1)
                }
            } else if c == "$", let tag = dollarTag(s, at: i) {
                hasCode = true
                copy(tag.count)
                while i < s.count {
                    if s[i] == "$", Array(s[i..<min(i + tag.count, s.count)]) == tag {
                        copy(tag.count)
                        break
                    }
                    copy(1)
                }
            } else if c == ";" {
                i += 1
                flush()
            } else {
                if !c.properties.isWhitespace { hasCode = true }
                copy(1)
            }
        }
        flush()
        return statements
    }

    /// The opening `$tag$` at `index`, or nil when the `$` starts no dollar quote (a `$1` parameter).
    private static func dollarTag(_ s: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        var j = index + 1
        while j < s.count, s[j] != "$" {
            let c = s[j]
            let ok = c == "_" || c.properties.isAlphabetic || (j > index + 1 && c.properties.numericType != nil)
            if !ok { return nil }
            j += 1
        }
        guard j < s.count else { return nil }
        return Array(s[index...j])
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self).unicodeScalars[...]
        while let f = scalars.first, f.properties.isWhitespace { scalars.removeFirst() }
        while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
