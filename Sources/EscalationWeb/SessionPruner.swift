public import EscalationStore
import Foundation
public import Logging
public import ServiceLifecycle

/// Deletes expired sessions every few minutes, so that the table holds only live ones (a session
/// is also refused, and deleted, the moment it is used after expiring). Any replica may run it:
/// the delete is idempotent.
public struct SessionPruner: Service {
    let sessions: SessionStore
    let interval: Duration
    let logger: Logger

    public init(sessions: SessionStore, interval: Duration = .seconds(600), logger: Logger) {
        self.sessions = sessions
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let pruned = try await sessions.pruneExpired(logger: logger)
                if pruned > 0 { logger.info("expired sessions deleted", metadata: ["sessions.pruned": "\(pruned)"]) }
            } catch {
                logger.warning("could not delete expired sessions; will try again", metadata: ["error": "\(String(reflecting: error))"])
            }
            // Graceful shutdown ends the wait at once (a plain sleep would hold the daemon's stop for the whole interval).
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
