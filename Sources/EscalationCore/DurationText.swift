/// Reads and writes durations such as `4h`, `90m`, `1h30m`, `2d` or `45s` (a day is 24 hours).
///
/// Durations on a working calendar count working time: `8h` on a 7h30 working day ends the
/// next morning.
public enum DurationText {
    /// The longest duration accepted: one year, in seconds.
    public static let maximumSeconds = 366 * 24 * 3600

    /// Parses a duration into whole seconds, or returns nil when the text is not a duration.
    public static func seconds(_ text: String) -> Int? {
        var total = 0
        var number: Int?
        var sawUnit = false
        var lastUnitRank = Int.max
        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                let value = (number ?? 0) * 10 + digit
                guard value <= maximumSeconds else { return nil }
                number = value
                continue
            }
            let rank: Int
            let factor: Int
            switch character {
            case "d": (rank, factor) = (4, 24 * 3600)
            case "h": (rank, factor) = (3, 3600)
            case "m": (rank, factor) = (2, 60)
            case "s": (rank, factor) = (1, 1)
            default: return nil
            }
            // Units must be given once each, largest first: "1h30m", not "30m1h".
            guard let n = number, rank < lastUnitRank else { return nil }
            total += n * factor
            guard total <= maximumSeconds else { return nil }
            number = nil
            sawUnit = true
            lastUnitRank = rank
        }
        guard sawUnit, number == nil, total > 0 else { return nil }
        return total
    }

    /// Formats whole seconds the way ``seconds(_:)`` reads them, largest unit first.
    public static func format(seconds: Int) -> String {
        guard seconds > 0 else { return "0s" }
        var parts: [String] = []
        let days = seconds / 86400
        let hours = (seconds % 86400) / 3600
        let minutes = (seconds % 3600) / 60
        let rest = seconds % 60
        if days > 0 { parts.append("\(days)d") }
        if hours > 0 { parts.append("\(hours)h") }
        if minutes > 0 { parts.append("\(minutes)m") }
        if rest > 0 { parts.append("\(rest)s") }
        return parts.joined()
    }
}
