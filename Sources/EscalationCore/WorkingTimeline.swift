public import Foundation

/// A calendar's working intervals laid out over a window of days, with running totals, so that
/// ``due(from:seconds:)`` and ``workingSeconds(from:to:)`` are binary searches instead of walks
/// through Foundation's calendar arithmetic day by day.
///
/// Answers agree with the calendar's own (property-tested); outside the window it asks the calendar.
public struct WorkingTimeline: CountedTime {
    public let calendar: WorkingCalendar
    private let starts: [Double]
    private let ends: [Double]
    /// Working seconds before interval i, from the window's start.
    private let before: [Double]
    /// Working seconds up to the end of interval i.
    private let through: [Double]
    private let lower: Double
    private let upper: Double

    /// Lays out the working intervals of every local day from `from`'s to `to`'s.
    public init(calendar: WorkingCalendar, from: Date, to: Date) {
        self.calendar = calendar
        var starts: [Double] = [], ends: [Double] = [], before: [Double] = [], through: [Double] = []
        var day = calendar.localDate(of: from)
        let last = calendar.localDate(of: to)
        let lower = calendar.startOfDay(day)?.timeIntervalSinceReferenceDate ?? from.timeIntervalSinceReferenceDate
        var total = 0.0
        while day <= last {
            for interval in calendar.intervals(on: day) {
                let s = interval.start.timeIntervalSinceReferenceDate, e = interval.end.timeIntervalSinceReferenceDate
                starts.append(s)
                ends.append(e)
                before.append(total)
                total += e - s
                through.append(total)
            }
            day = calendar.next(day)
        }
        self.starts = starts
        self.ends = ends
        self.before = before
        self.through = through
        self.lower = lower
        self.upper = calendar.startOfDay(day)?.timeIntervalSinceReferenceDate ?? lower
    }

    /// Working seconds from the window's start to `t`, which must lie inside the window.
    private func counted(_ t: Double) -> Double {
        // The last interval starting at or before t.
        var lo = 0, hi = starts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid] <= t { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return 0 }
        let k = lo - 1
        return t < ends[k] ? before[k] + (t - starts[k]) : through[k]
    }

    private func covers(_ t: Double) -> Bool { t >= lower && t < upper }

    public func due(from start: Date, seconds: Int) -> Date? {
        if seconds <= 0 { return start }
        let t = start.timeIntervalSinceReferenceDate
        guard covers(t) else { return calendar.due(from: start, seconds: seconds) }
        let target = counted(t) + Double(seconds)
        // The first interval whose end reaches the target.
        var lo = 0, hi = through.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if through[mid] < target { lo = mid + 1 } else { hi = mid }
        }
        guard lo < through.count else { return calendar.due(from: start, seconds: seconds) }
        return Date(timeIntervalSinceReferenceDate: starts[lo] + (target - before[lo]))
    }

    public func workingSeconds(from start: Date, to end: Date) -> Int {
        guard end > start else { return 0 }
        let s = start.timeIntervalSinceReferenceDate, e = end.timeIntervalSinceReferenceDate
        guard covers(s), e <= upper else { return calendar.workingSeconds(from: start, to: end) }
        return Int((counted(e) - counted(s)).rounded())
    }
}
