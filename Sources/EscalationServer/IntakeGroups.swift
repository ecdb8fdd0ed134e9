public import EscalationCore
public import EscalationStore
public import Logging
import Synchronization

/// Grouped intake: concurrent reports are committed together, in one statement (one
/// transaction and one NOTIFY) per group, and each request is answered only once its group has
/// committed.
///
/// The first report of a group waits `window` for others to join; reports that arrive while a
/// group commits form the next group, which starts as soon as the commit ends. At low load a
/// group holds one report and costs one window of latency.
public final class IntakeGroups: Sendable {
    /// The stored issue (as it is right after its group committed), or why it was refused.
    public typealias Outcome = Result<IssueRecord, IssueStore.CreateError>

    private struct Waiting {
        var issue: NewIssue
        var continuation: CheckedContinuation<Result<Outcome, any Error>, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var running = false
    }

    private let store: IssueStore
    private let window: Duration
    private let maximum: Int
    private let logger: Logger
    private let state = Mutex(State())

    public init(store: IssueStore, window: Duration = .milliseconds(2), maximum: Int = 500, logger: Logger) {
        self.store = store
        self.window = window
        self.maximum = maximum
        self.logger = logger
    }

    /// Stores `issue` with the next group; returns its id, or why it was refused.
    public func submit(_ issue: NewIssue) async throws -> Outcome {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Outcome, any Error>, Never>) in
            let start = state.withLock { state -> Bool in
                state.waiting.append(Waiting(issue: issue, continuation: continuation))
                if state.running { return false }
                state.running = true
                return true
            }
            if start { Task { await self.run() } }
        }
        return try result.get()
    }

    /// Commits groups until nobody waits.
    private func run() async {
        try? await Task.sleep(for: window)
        while true {
            let group = state.withLock { state -> [Waiting] in
                let taken = Array(state.waiting.prefix(maximum))
                state.waiting.removeFirst(taken.count)
                if taken.isEmpty { state.running = false }
                return taken
            }
            guard !group.isEmpty else { return }
            do {
                let created = try await store.createMany(group.map(\.issue), origin: .api, logger: logger)
                // One read for the whole group: three queries, not three per report.
                let stored = try await store.getMany(ids: created.compactMap { try? $0.get() }, logger: logger)
                for (waiting, outcome) in zip(group, created) {
                    let answer: Outcome = outcome.flatMap { id in
                        stored[id].map { .success($0) } ?? .failure(.unknown(field: "id", code: "\(id)"))
                    }
                    waiting.continuation.resume(returning: .success(answer))
                }
            } catch {
                for waiting in group { waiting.continuation.resume(returning: .failure(error)) }
            }
        }
    }
}
