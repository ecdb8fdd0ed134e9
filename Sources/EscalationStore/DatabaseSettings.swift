public import PostgresNIO
import Foundation
import NIOSSL

/// Where the database is, read from a `postgres://` URL.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`.
/// The password is kept out of ``description`` so the settings can be logged.
public struct DatabaseSettings: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String, tls: TLSMode = .disable) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a database URL, or throws an error whose message is one sentence.
    public init(url: String) throws(SettingsError) {
        guard let components = URLComponents(string: url),
              let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw SettingsError("DATABASE_URL must look like postgres://user:password@host:5432/database")
        }
        guard let host = components.host, !host.isEmpty else {
            throw SettingsError("DATABASE_URL has no host")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else {
            throw SettingsError("DATABASE_URL has no database name after the host")
        }
        var tls = TLSMode.disable
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw SettingsError("DATABASE_URL sslmode must be disable, prefer or require")
                }
                tls = mode
            default:
                throw SettingsError("DATABASE_URL has an unknown parameter '\(item.name)' (only sslmode is understood)")
            }
        }
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: components.user.flatMap { $0.removingPercentEncoding } ?? "postgres",
            password: components.password.flatMap { $0.removingPercentEncoding },
            database: database.removingPercentEncoding ?? database,
            tls: tls
        )
    }

    /// The URL form, password included (for handing to a child process, never for logs).
    public var url: String {
        var c = URLComponents()
        c.scheme = "postgres"
        c.host = host
        c.port = port
        c.user = username
        c.password = password
        c.path = "/" + database
        if tls != .disable { c.queryItems = [URLQueryItem(name: "sslmode", value: tls.rawValue)] }
        return c.string ?? "postgres://\(username)@\(host):\(port)/\(database)"
    }

    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)"
    }

    /// The same server with another database name.
    public func with(database: String) -> DatabaseSettings {
        var copy = self
        copy.database = database
        return copy
    }

    /// Configuration for a pool; `applicationName` shows in `pg_stat_activity`.
    public func clientConfiguration(applicationName: String, maximumConnections: Int = 20) -> PostgresClient.Configuration {
        var config = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database,
            tls: clientTLS
        )
        // No JIT: every statement here is small, and compiling one (with the LLVM load it costs a new
        // backend) took tens of milliseconds of a request's latency in the intake benchmark.
        // No parallel workers: a page of 50 rows never gains from them, and starting two took most
        // of a list's time (an inbox among a million issues: 49 ms with workers, 5.5 ms without).
        // Random reads priced near sequential ones (random_page_cost 1.1, the usual setting for SSDs
        // and cached data): at 4 the planner read and sorted 56,000 overdue issues by bitmap rather
        // than walk the deadline index for 2,000 (207 ms against 6 ms).
        config.options.additionalStartupParameters = [("application_name", applicationName), ("jit", "off"),
                                                      ("max_parallel_workers_per_gather", "0"), ("random_page_cost", "1.1")]
        config.options.maximumConnections = maximumConnections
        config.options.connectTimeout = .seconds(5)
        return config
    }

    /// Configuration for a single dedicated connection, such as the listener's.
    public func connectionConfiguration(applicationName: String) throws -> PostgresConnection.Configuration {
        var config = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database,
            tls: try connectionTLS()
        )
        config.options.additionalStartupParameters = [("application_name", applicationName)]
        config.options.connectTimeout = .seconds(5)
        return config
    }

    private var clientTLS: PostgresClient.Configuration.TLS {
        switch tls {
        case .disable: return .disable
        case .prefer: return .prefer(.makeClientConfiguration())
        case .require: return .require(.makeClientConfiguration())
        }
    }

    private func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch tls {
        case .disable: return .disable
        case .prefer: return .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }
}

/// A configuration value that cannot be used; the message is one sentence for the operator.
public struct SettingsError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
