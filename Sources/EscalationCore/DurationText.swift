/// Reads and writes durations such as `4h`, `90m`, `1h30m` or `2d` (a day is 24 hours).
public enum DurationText {
    /// The longest duration accepted: one year, in minutes.
    public static let maximumMinutes = 366 * 24 * 60

    /// Parses a duration into whole minutes, or returns nil when the text is not a duration.
    public static func minutes(_ text: String) -> Int? {
        var total = 0
        var number: Int?
        var sawUnit = false
        var lastUnitRank = Int.max
        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                let value = (number ?? 0) * 10 + digit
                guard value <= maximumMinutes * 60 else { return nil }
                number = value
                continue
            }
            let rank: Int
            let factor: Int
            switch character {
            case "d": (rank, factor) = (3, 24 * 60)
            case "h": (rank, factor) = (2, 60)
            case "m": (rank, factor) = (1, 1)
            default: return nil
            }
            // Units must be given once each, largest first: "1h30m", not "30m1h".
            guard let n = number, rank < lastUnitRank else { return nil }
            total += n * factor
            guard total <= maximumMinutes else { return nil }
            number = nil
            sawUnit = true
            lastUnitRank = rank
        }
        guard sawUnit, number == nil, total > 0 else { return nil }
        return total
    }

    /// Formats whole minutes the way ``minutes(_:)`` reads them, largest unit first.
    public static func format(minutes: Int) -> String {
        guard minutes > 0 else { return "0m" }
        var parts: [String] = []
        let days = minutes / (24 * 60)
        let hours = (minutes % (24 * 60)) / 60
        let rest = minutes % 60
        if days > 0 { parts.append("\(days)d") }
        if hours > 0 { parts.append("\(hours)h") }
        if rest > 0 { parts.append("\(rest)m") }
        return parts.joined()
    }
}
