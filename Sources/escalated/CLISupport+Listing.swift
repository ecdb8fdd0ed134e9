import EscalationCore
import Foundation

extension CLIError {
    /// A refused flag value as one sentence: `--name must not be empty`.
    init(flag error: FieldError) {
        self.init("--\(error.field.hasPrefix("--") ? String(error.field.dropFirst(2)) : error.field) \(error.message)")
    }
}

extension CLI {
    /// One line of a listing: each cell padded to its width (0: the last cell, not padded).
    static func row(_ cells: [String], widths: [Int]) -> String {
        zip(cells, widths).map { $1 == 0 ? $0 : $0.padding($1) }.joined()
    }

    /// A time in a listing, to the second in UTC; `-` for none.
    static func time(_ date: Date?) -> String {
        date.map { $0.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false)) } ?? "-"
    }
}
