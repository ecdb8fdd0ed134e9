public import PostgresNIO
import Foundation
import NIOSSL

/// Where the database is, read from a `postgres://` URL.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]...]/DATABASE[?sslmode=...&target_session_attrs=...]`.
/// Several hosts, as libpq takes them, name the members of a replicated cluster: with
/// `target_session_attrs=read-write` (or `primary`) the daemon uses the one that accepts writes and
/// follows it when it moves. The password is kept out of ``description`` so the settings can be logged.
public struct DatabaseSettings: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    /// Which of several hosts to use (libpq's `target_session_attrs`).
    public enum SessionTarget: String, Sendable, CaseIterable {
        /// The first host that answers, as a single-host URL always did.
        case any
        /// The first host whose sessions may write (`transaction_read_only` is off).
        case readWrite = "read-write"
        /// The first host that is not a standby (`pg_is_in_recovery()` is false).
        case primary
    }

    /// One server of the URL.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int = 5432) {
            self.host = host
            self.port = port
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The servers, in the order they are tried (never empty).
    public var endpoints: [Endpoint]
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    public var target: SessionTarget

    /// The first server (the only one of a single-host URL).
    public var host: String { endpoints[0].host }
    public var port: Int { endpoints[0].port }

    /// True when the pool must look for the writable server and follow it: several hosts, or a
    /// target other than `any`. A single host with `any` is used as it is, without probing.
    public var followsPrimary: Bool { endpoints.count > 1 || target != .any }

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String, tls: TLSMode = .disable) {
        self.init(endpoints: [Endpoint(host: host, port: port)], username: username, password: password, database: database, tls: tls)
    }

    public init(endpoints: [Endpoint], username: String, password: String? = nil, database: String, tls: TLSMode = .disable,
                target: SessionTarget = .any) {
        precondition(!endpoints.isEmpty, "a database URL names at least one host")
        self.endpoints = endpoints
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.target = target
    }

    /// Parses a database URL, or throws an error whose message is one sentence.
    ///
    /// `variable` names the setting in messages (`DATABASE_URL`, `ESCALATED_LISTEN_URL`).
    public init(url: String, variable: String = "DATABASE_URL") throws(SettingsError) {
        let shape = "\(variable) must look like postgres://user:password@host:5432/database"
        guard let schemeEnd = url.range(of: "://") else { throw SettingsError(shape) }
        let scheme = url[..<schemeEnd.lowerBound]
        guard scheme == "postgres" || scheme == "postgresql" else { throw SettingsError(shape) }
        // The authority runs to the first '/', '?' or '#'; its host list follows the last '@'.
        // Foundation's URL parser takes one host only, so the list is read here and the rest of
        // the URL is parsed with a placeholder host.
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let hostList: Substring
        let userInfo: Substring?
        if let at = authority.lastIndex(of: "@") {
            userInfo = authority[..<at]
            hostList = authority[authority.index(after: at)...]
        } else {
            userInfo = nil
            hostList = authority
        }
        guard !hostList.isEmpty else { throw SettingsError("\(variable) has no host") }
        let endpoints = try Self.parseHosts(hostList, variable: variable)
        let placeholder = "postgres://" + (userInfo.map { $0 + "@" } ?? "") + "placeholder" + rest[authorityEnd...]
        guard let components = URLComponents(string: placeholder) else { throw SettingsError(shape) }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else {
            throw SettingsError("\(variable) has no database name after the host")
        }
        var tls = TLSMode.disable
        var target = SessionTarget.any
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw SettingsError("\(variable) sslmode must be disable, prefer or require")
                }
                tls = mode
            case "target_session_attrs":
                guard let value = item.value, let wanted = SessionTarget(rawValue: value) else {
                    throw SettingsError("\(variable) target_session_attrs must be any, read-write or primary (got '\(item.value ?? "")')")
                }
                target = wanted
            default:
                throw SettingsError("\(variable) has an unknown parameter '\(item.name)' (only sslmode and target_session_attrs are understood)")
            }
        }
        self.init(
            endpoints: endpoints,
            username: components.user.flatMap { $0.removingPercentEncoding } ?? "postgres",
            password: components.password.flatMap { $0.removingPercentEncoding },
            database: database.removingPercentEncoding ?? database,
            tls: tls,
            target: target
        )
    }

    /// `host[:port]` items separated by commas; an IPv6 address goes in brackets (`[::1]:5432`).
    private static func parseHosts(_ list: Substring, variable: String) throws(SettingsError) -> [Endpoint] {
        var endpoints: [Endpoint] = []
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            var host: Substring
            var portText: Substring?
            if item.hasPrefix("[") {
                guard let close = item.firstIndex(of: "]") else { throw SettingsError("\(variable) has an IPv6 host without its closing ']'") }
                host = item[item.index(after: item.startIndex)..<close]
                let after = item[item.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { throw SettingsError("\(variable) has something after the IPv6 host '\(item)'") }
                    portText = after.dropFirst()
                }
            } else if let colon = item.firstIndex(of: ":") {
                host = item[..<colon]
                portText = item[item.index(after: colon)...]
            } else {
                host = item
            }
            host = Substring(host.removingPercentEncoding ?? String(host))
            guard !host.isEmpty else { throw SettingsError("\(variable) has an empty host in its host list '\(list)'") }
            var port = 5432
            if let portText {
                guard let value = Int(portText), (1...65_535).contains(value) else {
                    throw SettingsError("\(variable) has a port that is not a number from 1 to 65535 ('\(portText)' in '\(item)')")
                }
                port = value
            }
            endpoints.append(Endpoint(host: String(host), port: port))
        }
        return endpoints
    }

    /// The URL form, password included (for handing to a child process, never for logs).
    public var url: String { render(password: password) }

    public var description: String { render(password: password == nil ? nil : "***", encode: false) }

    private func render(password: String?, encode: Bool = true) -> String {
        let allowed = CharacterSet.urlUserAllowed.subtracting(CharacterSet(charactersIn: ":@/"))
        func escape(_ text: String) -> String { encode ? (text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text) : text }
        var text = "postgres://" + escape(username)
        if let password { text += ":" + escape(password) }
        text += "@" + endpoints.map(\.description).joined(separator: ",") + "/" + escape(database)
        var query: [String] = []
        if tls != .disable { query.append("sslmode=\(tls.rawValue)") }
        if target != .any { query.append("target_session_attrs=\(target.rawValue)") }
        if !query.isEmpty { text += "?" + query.joined(separator: "&") }
        return text
    }

    /// The same server with another database name.
    public func with(database: String) -> DatabaseSettings {
        var copy = self
        copy.database = database
        return copy
    }

    /// Configuration for a pool on `endpoint` (the first server by default); `applicationName`
    /// shows in `pg_stat_activity`.
    public func clientConfiguration(applicationName: String, maximumConnections: Int = 20, endpoint: Endpoint? = nil) -> PostgresClient.Configuration {
        let endpoint = endpoint ?? endpoints[0]
        var config = PostgresClient.Configuration(
            host: endpoint.host, port: endpoint.port, username: username, password: password, database: database,
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
    public func connectionConfiguration(applicationName: String, endpoint: Endpoint? = nil) throws -> PostgresConnection.Configuration {
        let endpoint = endpoint ?? endpoints[0]
        var config = PostgresConnection.Configuration(
            host: endpoint.host, port: endpoint.port, username: username, password: password, database: database,
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
