import AsyncHTTPClient
import EscalationCore
import EscalationServer
import EscalationStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresCluster
import PostgresNIO

/// The HTTP intake scenario: `clients` concurrent HTTP clients posting reports for `seconds`,
/// against `clients` concurrent single-row INSERTs (each its own transaction and NOTIFY) for the
/// same time, in the same run.
extension Bench {
    func intake(clients: Int, seconds: Int, into report: inout BenchReport) async throws {
        let port = try PostgresCluster.freeLoopbackPort()
        // The limiter stays on (its cost is measured), above what one client can ask.
        let daemon = try startDaemon(environment: ["ESCALATED_HTTP": "127.0.0.1:\(port)", "ESCALATED_RATE_LIMIT": "1000/s"])
        try await daemon.waitForListener(self)
        let settings = self.settings
        let logger = self.logger
        // One token per client, as each unit would hold its own.
        let tokens = try await Daemon.withClient(settings, applicationName: "escalated-bench", logger: logger) { client in
            var made: [String] = []
            for worker in 0..<clients {
                made.append(try await TokenStore(client: client).create(actor: .admin, name: "bench \(worker)", expiresAt: nil, logger: logger).secret)
            }
            return made
        }
        let window = Duration.seconds(seconds)

        // Single-row INSERT-and-NOTIFY commits, `clients` at once.
        let before = try await scalar("SELECT count(*)::float8 FROM escalated.issues")
        let sqlStarted = Date()
        // One pool of `clients` connections (the cluster allows 100 in all).
        let pool = Database(settings: settings, applicationName: "escalated-bench-insert", maximumConnections: clients, logger: logger)
        let inserted = try await withThrowingTaskGroup(of: Int.self) { outer in
            outer.addTask {
                await pool.run()
                return 0
            }
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<clients {
                    group.addTask { try await Bench.insertSingleRows(pool, for: window, label: "sql \(worker)", logger: logger) }
                }
                return try await group.reduce(0, +)
            }
            outer.cancelAll()
            return total
        }
        let sqlRate = Double(inserted) / Date().timeIntervalSince(sqlStarted)
        try await waitUntil("SELECT (count(*) = 0)::int::float8 FROM escalated.issues WHERE state = 'reported'", atLeast: 1, timeout: .seconds(120))

        // HTTP intake, `clients` connections.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: clients)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let afterSQL = try await scalar("SELECT count(*)::float8 FROM escalated.issues")
        let httpStarted = Date()
        let results: [(accepted: Int, failed: Int, latencies: [Double])]
        do {
            results = try await withThrowingTaskGroup(of: (Int, Int, [Double]).self) { group in
                for worker in 0..<clients {
                    group.addTask {
                        let end = ContinuousClock.now + window
                        var accepted = 0, failed = 0
                        var latencies: [Double] = []
                        while ContinuousClock.now < end {
                            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/issues")
                            request.method = .POST
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.headers.add(name: "Authorization", value: "Bearer \(tokens[worker])")
                            request.body = .bytes(ByteBuffer(string: #"{"unit":"LC-SAPA-01","sector":"land","title":"Báo cáo qua API \#(worker).\#(accepted + failed)"}"#))
                            let sent = ContinuousClock.now
                            let response = try await http.execute(request, timeout: .seconds(30))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            let elapsed = ContinuousClock.now - sent
                            latencies.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                            if response.status == .created { accepted += 1 } else { failed += 1 }
                        }
                        return (accepted, failed, latencies)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        let httpElapsed = Date().timeIntervalSince(httpStarted)
        try await http.shutdown()
        let accepted = results.map(\.accepted).reduce(0, +)
        let failed = results.map(\.failed).reduce(0, +)
        let latencies = results.flatMap(\.latencies).sorted()
        func percentile(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        let stored = Int(try await scalar("SELECT count(*)::float8 FROM escalated.issues") - afterSQL)
        let groups = try await scalar("""
            SELECT count(DISTINCT e.xmin::text)::float8 FROM escalated.events e JOIN escalated.issues i ON i.id = e.issue_id
             WHERE e.kind = 'reported' AND i.origin = 'api'
            """)
        try await daemon.stop()
        let httpRate = Double(accepted) / httpElapsed
        report.add("intake: \(clients) single-row INSERT+NOTIFY clients, \(seconds) s", String(format: "%d committed, %.0f/s", Int(afterSQL - before), sqlRate))
        report.add("intake: \(clients) HTTP clients, \(seconds) s", String(format: "%d accepted (%d refused), %.0f/s = %.2f × the single-row rate", accepted, failed, httpRate, httpRate / max(sqlRate, 1)), ">= 1.5 ×")
        report.add("intake: HTTP request latency p50 / p99 / max", String(format: "%.1f / %.1f / %.1f ms", percentile(0.5), percentile(0.99), latencies.last ?? 0), "p99 <= 50 ms")
        report.add("intake: accepted vs rows stored; groups", String(format: "%d accepted, %d stored; %.0f transactions (%.1f reports each)", accepted, stored, groups, Double(stored) / max(groups, 1)), "none lost")
    }
}
