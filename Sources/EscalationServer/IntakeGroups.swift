public import EscalationCore
public import EscalationStore
public import Logging
import Synchronization

/// Grouped intake: concurrent reports are committed together, in one statement (one
/// transaction and one NOTIFY) per group, and each request is answered only once its group has
/// committed.
///
/// The first report of a group waits `window` for others to join; reports that arrive meanwhile
/// join it. Reports that arrive while groups commit form the next group, which a new committer
/// gathers at once (up to `committers` groups commit at the same time, so one commit's fsync does
/// not hold up the next group) or, with all of them busy, the first to finish takes. At low load
/// a group holds one report and costs one window of latency.
public final class IntakeGroups: Sendable {
    /// The stored issue (as it is right after its group committed), or why it was refused.
    public typealias Outcome = Result<IssueRecord, IssueStore.CreateError>

    private struct Waiting {
        var issue: NewIssue
        var reportedBy: String
        var continuation: CheckedContinuation<Result<Outcome, any Error>, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        /// Committers running.
        var committers = 0
        /// Whether one of them is gathering a group (waiting its window).
        var gathering = false
    }

    private let store: IssueStore
    private let window: Duration
    private let maximum: Int
    private let committers: Int
    private let logger: Logger
    private let state = Mutex(State())

    public init(store: IssueStore, window: Duration = .milliseconds(2), maximum: Int = 500, committers: Int = 4, logger: Logger) {
        self.store = store
        self.window = window
        self.maximum = maximum
        self.committers = max(1, committers)
        self.logger = logger
    }

    /// Stores `issue` with the next group; returns its id, or why it was refused.
    public func submit(_ issue: NewIssue, reportedBy: String = "") async throws -> Outcome {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Outcome, any Error>, Never>) in
            let start = state.withLock { state -> Bool in
                state.waiting.append(Waiting(issue: issue, reportedBy: reportedBy, continuation: continuation))
                guard !state.gathering, state.committers < committers else { return false }
                state.committers += 1
                state.gathering = true
                return true
            }
            if start { Task { await self.run() } }
        }
        return try result.get()
    }

    /// Gathers a group, commits it, and goes on with the next while reports wait and no other
    /// committer is gathering.
    private func run() async {
        try? await Task.sleep(for: window)
        while true {
            let group = state.withLock { state -> [Waiting] in
                let taken = Array(state.waiting.prefix(maximum))
                state.waiting.removeFirst(taken.count)
                state.gathering = false
                return taken
            }
            do {
                let created = try await store.createMany(group.map(\.issue), origin: .api, reportedBy: group.map(\.reportedBy), logger: logger)
                // One read for the whole group, of the issues alone: the history of a report just
                // stored is its `reported` event (GET /v1/issues/{id} shows it).
                let stored = try await store.getMany(ids: created.compactMap { try? $0.get() }, history: false, logger: logger)
                for (waiting, outcome) in zip(group, created) {
                    let answer: Outcome = outcome.flatMap { id in
                        stored[id].map { .success($0) } ?? .failure(.unknown(field: "id", code: "\(id)"))
                    }
                    waiting.continuation.resume(returning: .success(answer))
                }
            } catch {
                for waiting in group { waiting.continuation.resume(returning: .failure(error)) }
            }
            // Reports that came meanwhile have waited at least one commit: take them at once.
            let more = state.withLock { state -> Bool in
                guard !state.waiting.isEmpty, !state.gathering else {
                    state.committers -= 1
                    return false
                }
                state.gathering = true
                return true
            }
            guard more else { return }
        }
    }
}
