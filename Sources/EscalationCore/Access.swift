import Foundation

/// Who may see and do what: the actors of the API and their rights. Pure: the store turns an
/// actor's scope into SQL, the API answers 404 outside it and 403 for a right it lacks.
public enum ActorKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// A commune or ward: its own reports.
    case unit
    /// A provincial agency: what is routed (or reassigned) to it.
    case agency
    /// A Standing Committee member: every issue of the units of the areas they are in charge of.
    case member
    /// Standing Committee, People's Committee office: every issue, and deadline extensions.
    case supervisor
    /// The operator: everything, including tokens and the directory.
    case admin

    /// Whether an actor of this kind names a directory entry (unit, agency or person code).
    public var needsCode: Bool { self != .admin }
}

/// Someone calling the API (or the CLI acting for them): a kind and the directory code it names.
public struct Actor: Sendable, Hashable, CustomStringConvertible {
    public var kind: ActorKind
    /// The unit, agency or person code; nil for admin.
    public var code: String?

    public init(kind: ActorKind, code: String?) {
        self.kind = kind
        self.code = code
    }

    public static let admin = Actor(kind: .admin, code: nil)

    /// `agency:land-dept`, `unit:N1`, `member:m-north`, `supervisor:p-chair`, `admin` or `admin:ops`.
    public var description: String { code.map { "\(kind.rawValue):\($0)" } ?? kind.rawValue }

    /// Parses `KIND:CODE` (the CLI's `--actor` and `--as`, the token API's `actor`).
    public static func parse(_ text: String, field: String = "actor") throws(FieldError) -> Actor {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let kinds = ActorKind.allCases.map(\.rawValue).joined(separator: ", ")
        guard let kind = ActorKind(rawValue: parts[0]) else {
            throw FieldError(field: field, message: "'\(text)' does not start with an actor kind (\(kinds)) followed by ':CODE'")
        }
        let code = parts.count == 2 ? parts[1] : nil
        if let code, !Code.isValid(code) {
            throw FieldError(field: field, message: "'\(code)' is not a code (1 to 64 letters, digits, '-', '_' or '.')")
        }
        if kind.needsCode && code == nil {
            throw FieldError(field: field, message: "\(kind.rawValue) needs a code: \(kind.rawValue):CODE")
        }
        return Actor(kind: kind, code: code)
    }

    /// Whether this actor may do `operation` on an issue within its scope.
    public func may(_ operation: Operation) -> Bool {
        Self.rights[operation, default: []].contains(kind)
    }

    /// What the API lets actors do. Reading an issue, commenting on it and asking for reports is
    /// open to every actor within its scope; the rest follows who does what in the province.
    public enum Operation: String, Sendable, Hashable, CaseIterable {
        case read, comment, report
        /// Filing a report: a unit for itself, or the operator.
        case create
        case acknowledge, reassign, resolve
        /// Reopening and closing belong to the reporting unit.
        case reopen, close
        /// Moving a deadline belongs to supervisors.
        case extend
        /// The outbox, tokens and the directory.
        case operate
    }

    static let rights: [Operation: Set<ActorKind>] = [
        .read: Set(ActorKind.allCases),
        .comment: Set(ActorKind.allCases),
        .report: Set(ActorKind.allCases),
        .create: [.unit, .admin],
        .acknowledge: [.agency, .supervisor, .admin],
        .reassign: [.agency, .member, .supervisor, .admin],
        .resolve: [.agency, .supervisor, .admin],
        .reopen: [.unit, .admin],
        .close: [.unit, .admin],
        .extend: [.supervisor, .admin],
        .operate: [.admin],
    ]

    /// The kinds allowed `operation`, for error messages.
    public static func kinds(allowedTo operation: Operation) -> [ActorKind] {
        ActorKind.allCases.filter { rights[operation, default: []].contains($0) }
    }
}

/// What kind of comment it is: guidance from an agency, an opinion or a direction from the
/// member in charge, or a plain note.
public enum CommentKind: String, Sendable, Hashable, CaseIterable, Codable {
    case note, guidance, opinion, direction
}

/// API tokens as people see them: `esc_` and 43 base64url characters (256 random bits).
public enum TokenText {
    public static let prefix = "esc_"
    public static let length = 47

    /// True when `text` has the shape of a token (it may still be unknown, revoked or expired).
    public static func isWellFormed(_ text: String) -> Bool {
        guard text.utf8.count == length, text.hasPrefix(prefix) else { return false }
        return text.utf8.dropFirst(prefix.utf8.count).allSatisfy { byte in
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F
        }
    }

    /// The token for 32 random bytes.
    public static func encode(_ bytes: [UInt8]) -> String {
        precondition(bytes.count == 32, "a token is 256 bits")
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = Array(prefix.utf8)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 0x3F)])
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(6 - bits)) & 0x3F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A token name: trimmed, 1 to 100 characters, no control characters.
    public static func name(_ value: String) throws(FieldError) -> String {
        let text = value.precomposedStringWithCanonicalMapping.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw FieldError(field: "name", message: "must not be empty") }
        guard text.count <= 100 else { throw FieldError(field: "name", message: "is longer than 100 characters") }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw FieldError(field: "name", message: "must not contain control characters")
        }
        return text
    }
}
