import Foundation

/// The texts that go with an action on an issue (a resolution, a reason, who acts), checked the
/// same way wherever they come from (HTTP or the command line).
public enum ActionText {
    /// The longest resolution or reason accepted, in characters.
    public static let maximumReasonLength = 5000
    /// The longest actor name accepted, in characters.
    public static let maximumActorLength = 200

    /// Trimmed, in NFC, non-empty, at most 5,000 characters.
    public static func reason(_ value: String, field: String) throws(FieldError) -> String {
        let text = value.precomposedStringWithCanonicalMapping.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw FieldError(field: field, message: "must not be empty") }
        guard text.count <= maximumReasonLength else { throw FieldError(field: field, message: "is longer than \(maximumReasonLength) characters") }
        guard !text.unicodeScalars.contains(where: { $0 == "\u{0}" }) else { throw FieldError(field: field, message: "must not contain NUL characters") }
        return text
    }

    /// Trimmed, in NFC, 1 to 200 characters, no control characters.
    public static func actor(_ value: String) throws(FieldError) -> String {
        let text = value.precomposedStringWithCanonicalMapping.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw FieldError(field: "actor", message: "must not be empty") }
        guard text.count <= maximumActorLength else { throw FieldError(field: "actor", message: "is longer than \(maximumActorLength) characters") }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw FieldError(field: "actor", message: "must not contain control characters")
        }
        return text
    }
}
