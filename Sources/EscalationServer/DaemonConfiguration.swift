public import EscalationStore
public import EscalationWeb
import Foundation
public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Everything the daemon needs to run, built once (flags, then environment, then defaults).
public struct DaemonConfiguration: Sendable {
    public var database: DatabaseSettings
    /// The LISTEN connection's own database (`ESCALATED_LISTEN_URL`), when the pool goes through a
    /// pooler that cannot pass LISTEN; nil to listen on the pool's server.
    public var listenDatabase: DatabaseSettings?
    /// Where the HTTP API listens.
    public var httpHost: String = "127.0.0.1"
    public var httpPort: Int = 8080
    /// How long a connection may hold a socket without making progress, and how many may be open.
    public var httpLimits = HTTPLimits()
    /// Apply pending migrations at start instead of refusing to start.
    public var migrate: Bool = false
    public var router = RouterConfiguration()
    public var escalator = EscalatorConfiguration()
    public var deliverer = DelivererConfiguration()
    public var listener = ListenerConfiguration()
    public var api = APIConfiguration()
    /// Retention: what the maintenance service deletes, and how often it looks.
    public var maintenance = MaintenanceConfiguration()
    /// The web app (its public URL is the deliverer's, set at start).
    public var web = WebConfiguration()
    public var logLevel: Logger.Level = .info
    /// The crash tests' hooks; all unset in production.
    public var testHooks = TestHooks()

    public init(database: DatabaseSettings) {
        self.database = database
    }

    /// Reads `HOST:PORT` (`ESCALATED_HTTP`, `--http`); the port may be 0 for any free port.
    public static func parseHostPort(_ text: String) throws(SettingsError) -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw SettingsError("the HTTP address '\(text)' must be HOST:PORT, for example 127.0.0.1:8080")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw SettingsError("the HTTP address '\(text)' has no host") }
        return (host, port)
    }

    /// Reads a duration such as `2s`, `500ms` or `1m` (poll intervals, timeouts).
    public static func parseDuration(_ text: String, name: String) throws(SettingsError) -> Duration {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let value = Int64(text.dropLast(suffix.count)), value > 0, value <= 86_400_000 / factor {
                return .milliseconds(value * factor)
            }
        }
        throw SettingsError("\(name) must be a duration such as 500ms, 2s or 1m (got '\(text)')")
    }

    /// Reads a retention age in days, such as `90d` (at least 1d, at most 100 years).
    public static func parseAge(_ text: String, name: String) throws(SettingsError) -> Duration {
        guard text.hasSuffix("d"), let days = Int(text.dropLast()), (1...36_500).contains(days) else {
            throw SettingsError("\(name) must be a number of days such as 90d, at least 1d (got '\(text)')")
        }
        return .seconds(Int64(days) * 86_400)
    }

    /// Reads a log level name (`trace`, `debug`, `info`, `notice`, `warning`, `error`, `critical`).
    public static func parseLogLevel(_ text: String) throws(SettingsError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw SettingsError("the log level must be one of trace, debug, info, notice, warning, error, critical (got '\(text)')")
        }
        return level
    }
}

/// Limits of the HTTP API.
public struct APIConfiguration: Sendable {
    /// Requests a token may make per second, sustained (0: no limit).
    public var rateLimit: Double = 50
    /// Requests a token may make at once after being idle.
    public var rateBurst: Double = 200
    /// How long a checked token is trusted before it is read again. A revocation made through
    /// this daemon's API applies at once; one made elsewhere (the CLI, another replica) within this time.
    public var tokenCacheTime: Duration = .seconds(5)

    public init() {}

    /// Reads `N/s` or `N/s,burst=M` (`ESCALATED_RATE_LIMIT`); `off` for none.
    public static func parseRateLimit(_ text: String) throws(SettingsError) -> (rate: Double, burst: Double) {
        if text == "off" { return (0, 0) }
        let parts = text.split(separator: ",", maxSplits: 1).map(String.init)
        guard parts[0].hasSuffix("/s"), let rate = Double(parts[0].dropLast(2)), rate > 0, rate <= 1_000_000 else {
            throw SettingsError("ESCALATED_RATE_LIMIT must be requests per second per token, such as 50/s or 50/s,burst=200, or off (got '\(text)')")
        }
        var burst = max(1, rate * 4)
        if parts.count == 2 {
            guard parts[1].hasPrefix("burst="), let value = Double(parts[1].dropFirst(6)), value >= 1, value <= 10_000_000 else {
                throw SettingsError("ESCALATED_RATE_LIMIT: the burst must be written burst=N with N at least 1 (got '\(parts[1])')")
            }
            burst = value
        }
        return (rate, burst)
    }
}

/// Deadlines and a cap that keep slow or idle HTTP clients from holding the daemon's sockets.
///
/// Each deadline covers one phase of a connection, so none of them can cut a response in
/// progress (a Server-Sent Events stream, a slow report): the header timeout runs only while a
/// request head is awaited, the body timeout only while a request body is received, the idle
/// timeout only between requests when no response is in progress.
public struct HTTPLimits: Sendable, Equatable {
    /// From the connection's open, or from the first byte of the next request on a kept-alive
    /// connection, until the whole request head has arrived (a total deadline: trickling bytes
    /// does not extend it). ESCALATED_HTTP_HEADER_TIMEOUT.
    public var headerTimeout: Duration = .seconds(10)
    /// From the end of a request head until the end of its body. ESCALATED_HTTP_BODY_TIMEOUT.
    public var bodyTimeout: Duration = .seconds(30)
    /// A kept-alive connection with no response in progress waits this long for the first byte of
    /// its next request. Longer than the 60 s idle timeout load balancers use by default, so the
    /// balancer, not the daemon, closes an idle upstream connection. ESCALATED_HTTP_IDLE_TIMEOUT.
    public var idleTimeout: Duration = .seconds(75)
    /// Connections open at once; one more is answered 503 and closed. ESCALATED_HTTP_MAX_CONNECTIONS.
    public var maxConnections: Int = HTTPLimits.defaultMaxConnections()

    public init() {}

    /// File descriptors kept out of the connection cap: the database pool and listener, SMTP
    /// sessions, webhooks, the log, templates and migrations.
    public static let reservedDescriptors = 128

    /// 1024, or fewer when the process may open fewer files than 1024 plus ``reservedDescriptors``
    /// (`ulimit -n`; the systemd unit sets 65536), never fewer than 16.
    public static func defaultMaxConnections() -> Int {
        var limit = rlimit()
        #if os(Linux)
        let status = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        #else
        let status = getrlimit(RLIMIT_NOFILE, &limit)
        #endif
        guard status == 0, limit.rlim_cur != rlim_t.max else { return 1024 }
        return max(16, min(1024, Int(clamping: limit.rlim_cur) - reservedDescriptors))
    }
}

/// How the router claims and how often it looks without being told.
public struct RouterConfiguration: Sendable {
    /// Issues claimed per transaction.
    public var batchSize: Int = 1000
    /// Batches routed at once by one daemon while a backlog drains (claims never overlap).
    public var workers: Int = 2
    /// How often the router looks for work without a notification (the poll fallback).
    public var pollInterval: Duration = .seconds(2)
    /// Written into routing events so operators can tell replicas apart; default `HOST:PID`.
    public var instanceName: String = RouterConfiguration.defaultInstanceName()

    public init() {}

    public static func defaultInstanceName() -> String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }
}

/// How the escalator claims due steps and how long it sleeps at most.
public struct EscalatorConfiguration: Sendable {
    /// Steps fired per transaction.
    public var batchSize: Int = 1000
    /// Batches fired at once by one daemon while a burst drains.
    public var workers: Int = 2
    /// The longest the escalator sleeps without looking (at most a minute: writers wake
    /// escalators only for steps due within a minute). Shares ESCALATED_POLL_INTERVAL.
    public var pollInterval: Duration = .seconds(2)

    public init() {}
}

/// How the LISTEN connection checks itself and reconnects.
public struct ListenerConfiguration: Sendable {
    /// How often the listener proves its connection works (a NOTIFY sent through the pool that
    /// must come back on the listening connection).
    public var heartbeatInterval: Duration = .seconds(10)
    /// How long the ping may take to come back before the connection is declared dead.
    public var heartbeatTimeout: Duration = .seconds(5)
    /// First and largest reconnect delay; each attempt doubles, with jitter.
    public var initialBackoff: Duration = .milliseconds(100)
    public var maximumBackoff: Duration = .seconds(10)

    public init() {}
}
