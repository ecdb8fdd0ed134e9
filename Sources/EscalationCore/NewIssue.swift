import Foundation

/// A field that failed validation, named as the client sent it.
public struct FieldError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// A report as it arrives, before it is stored.
///
/// Every intake path (HTTP, CLI) builds one through ``validated(unit:sector:severity:title:description:reporter:)``,
/// so the limits below hold wherever a report comes from. Text is normalised to NFC before it is
/// measured. The SQL intake is held to the same lengths by constraints in the schema (and its
/// trigger normalises to NFC), but not to the code format or the control-character rules.
public struct NewIssue: Sendable, Equatable {
    /// The longest title accepted, in characters (Unicode code points after NFC).
    public static let maximumTitleLength = 200
    /// The longest description accepted, in characters.
    public static let maximumDescriptionLength = 10_000
    /// The longest reporter name accepted, in characters.
    public static let maximumReporterLength = 200

    public var unit: String
    public var sector: String
    public var severity: Severity
    public var title: String
    public var description: String
    public var reporter: String?

    private init(unit: String, sector: String, severity: Severity, title: String, description: String, reporter: String?) {
        self.unit = unit
        self.sector = sector
        self.severity = severity
        self.title = title
        self.description = description
        self.reporter = reporter
    }

    /// Checks and trims a report.
    ///
    /// - `unit`, `sector`: codes (see ``Code``).
    /// - `severity`: `normal` (the default when nil) or `urgent`.
    /// - `title`: 1 to 200 characters after trimming, one line, no control characters.
    /// - `description`: up to 10,000 characters; line breaks and tabs allowed, other control characters not.
    /// - `reporter`: optional, up to 200 characters, one line.
    ///
    /// Lengths count Unicode code points; NUL is refused everywhere because PostgreSQL cannot store it.
    public static func validated(
        unit: String,
        sector: String,
        severity: String?,
        title: String,
        description: String?,
        reporter: String?
    ) throws(FieldError) -> NewIssue {
        guard Code.isValid(unit) else {
            throw FieldError(field: "unit", message: "must be a unit code (1 to \(Code.maximumLength) letters, digits, '-', '_' or '.')")
        }
        guard Code.isValid(sector) else {
            throw FieldError(field: "sector", message: "must be a sector code (1 to \(Code.maximumLength) letters, digits, '-', '_' or '.')")
        }
        let parsedSeverity: Severity
        if let severity {
            guard let s = Severity(rawValue: severity) else {
                throw FieldError(field: "severity", message: "must be 'normal' or 'urgent'")
            }
            parsedSeverity = s
        } else {
            parsedSeverity = .normal
        }
        let title = trimmed(title)
        guard !title.isEmpty else { throw FieldError(field: "title", message: "must not be empty") }
        try checkText(title, field: "title", limit: maximumTitleLength, multiline: false)
        let description = description.map(trimmed) ?? ""
        try checkText(description, field: "description", limit: maximumDescriptionLength, multiline: true)
        var cleanReporter: String?
        if let reporter {
            let r = trimmed(reporter)
            try checkText(r, field: "reporter", limit: maximumReporterLength, multiline: false)
            cleanReporter = r.isEmpty ? nil : r
        }
        return NewIssue(unit: unit, sector: sector, severity: parsedSeverity, title: title, description: description, reporter: cleanReporter)
    }

    /// Trims white space and normalises to NFC (what is stored, and what limits count).
    static func trimmed(_ text: String) -> String {
        var scalars = Substring(text.precomposedStringWithCanonicalMapping).unicodeScalars[...]
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    static func checkText(_ text: String, field: String, limit: Int, multiline: Bool) throws(FieldError) {
        if text.unicodeScalars.count > limit {
            throw FieldError(field: field, message: "is longer than \(limit) characters")
        }
        for scalar in text.unicodeScalars where scalar.properties.generalCategory == .control {
            if multiline && (scalar == "\n" || scalar == "\t" || scalar == "\r") { continue }
            if scalar == "\0" {
                throw FieldError(field: field, message: "must not contain NUL characters")
            }
            throw FieldError(field: field, message: multiline ? "must not contain control characters other than line breaks and tabs" : "must be one line without control characters")
        }
    }
}
