import ServiceLifecycle

/// Runs `batch` once; while batches come back full (a backlog), `workers` loops share the rest,
/// each until one of its batches comes back short or shutdown begins.
///
/// At steady load a wake-up costs one batch: the other workers only join once a full batch
/// shows there is more. `batch` returns true when its batch was full.
func drainBatches(workers: Int, _ batch: @escaping @Sendable () async -> Bool) async {
    guard !Task.isShuttingDownGracefully, await batch() else { return }
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<max(1, workers) {
            group.addTask {
                while !Task.isShuttingDownGracefully, await batch() {}
            }
        }
    }
}
