import ArgumentParser
import EscalationCore
import Hummingbird
import EscalationServer
import EscalationStore
import EscalationWeb
import Foundation
import Logging
import PostgresCluster

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the daemon on its embedded default: a private PostgreSQL, the sample directory, the HTTP API.",
        discussion: """
            With no DATABASE_URL, demo creates (first run) and starts a private PostgreSQL cluster in \
            --data-dir on a free loopback port, applies the migrations, imports the sample directory \
            into an empty database, and serves HTTP. Ctrl-C or SIGTERM stops the daemon and the cluster. \
            A second run reuses the folder and keeps what was stored. As root the cluster runs as the \
            'postgres' user.
            """
    )

    /// The file in the data folder that holds the running demo's database URL, for the other commands.
    static let urlFileName = "database.url"

    @Option(help: "The folder that holds the demo's PostgreSQL cluster (default: ~/.local/share/escalated/demo, or /var/lib/escalated/demo as root).")
    var dataDir: String?

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        var config = try options.configuration(database: DatabaseSettings(host: "127.0.0.1", username: "postgres", database: "escalated"))
        let logger = CLI.bootstrapLogging(level: config.logLevel)
        let registry = MetricsSetup.bootstrap()
        config.migrate = true

        var cluster: PostgresCluster?
        var urlFile: String?
        if let url = CLI.environment["DATABASE_URL"], !url.isEmpty {
            config.database = try DatabaseSettings(url: url)
        } else {
            let folder = dataDir ?? PostgresCluster.defaultDemoDirectory()
            let started = try PostgresCluster.start(dataDirectory: folder, logger: logger)
            cluster = started
            if try started.psql("SELECT 1 FROM pg_database WHERE datname = 'escalated'").isEmpty {
                _ = try started.psql("CREATE DATABASE escalated")
            }
            config.database = try DatabaseSettings(url: started.url(database: "escalated"))
            urlFile = folder + "/" + Self.urlFileName
        }
        // Without a mail server, the demo writes each email as an .eml file beside its cluster.
        if config.deliverer.mail == nil {
            let folder = (dataDir ?? PostgresCluster.defaultDemoDirectory()) + "/mail"
            config.deliverer.mail = try DaemonConfiguration.mail(CLI.environment, defaultFolder: folder)
        }
        defer {
            if let urlFile { unlink(urlFile) }
            if let cluster {
                logger.info("stopping PostgreSQL")
                cluster.stop()
            }
        }

        try await Daemon.prepareDatabase(config, logger: logger)
        try await importSampleIfEmpty(config.database, logger: logger)
        let tokens = try await Self.demoTokens(config.database, logger: logger)
        let people = try await Self.demoAccounts(config.database, actors: tokens.map(\.actor), settings: config.web.accounts, logger: logger)
        if let urlFile {
            _ = FileManager.default.createFile(atPath: urlFile, contents: Data((config.database.url + "\n").utf8), attributes: [.posixPermissions: 0o600])
        }
        if !HTTPPort.isFree(host: config.httpHost, port: config.httpPort) {
            logger.notice("the HTTP port is busy; using a free one", metadata: ["http.port": "\(config.httpPort)"])
            config.httpPort = 0
        }
        let database = config.database
        let host = config.httpHost
        let mailFolder: String? = if case .folder(let folder)? = config.deliverer.mail?.transport { folder } else { nil }
        if config.httpPort != 0, CLI.environment["ESCALATED_PUBLIC_URL"]?.isEmpty ?? true {
            config.deliverer.publicURL = "http://\(host.contains(":") ? "[\(host)]" : host):\(config.httpPort)"
        }
        let app = try Daemon.buildApplication(config, logger: logger, registry: registry) { port in
            Self.printBanner(host: host, port: port, database: database, mail: mailFolder, tokens: tokens, accounts: people)
        }
        try await ShutdownPolicy.run(app, logger: logger)
    }

    private func importSampleIfEmpty(_ settings: DatabaseSettings, logger: Logger) async throws {
        try await Daemon.withClient(settings, applicationName: "escalated-demo", logger: logger) { client in
            let store = DirectoryStore(client: client)
            let current = try await store.load(logger: logger)
            guard current.directory.isEmpty else { return }
            let result = try await store.importDirectory(try SampleDirectory.load(), logger: logger)
            logger.info("sample directory imported", metadata: ["directory.revision": "\(result.revision)"])
        }
    }

    /// One fresh token per kind of actor, named `demo …`; the previous run's demo tokens are revoked.
    static func demoTokens(_ settings: DatabaseSettings, logger: Logger) async throws -> [(actor: Actor, secret: String)] {
        try await Daemon.withClient(settings, applicationName: "escalated-demo", logger: logger) { client in
            let directory = try await DirectoryStore(client: client).load(logger: logger).directory
            let unit = directory.units.first
            let agency = directory.sectors.first?.agency ?? directory.agencies.first?.code
            let member = directory.areas.first { $0.code == unit?.area }?.member ?? directory.areas.first?.member
            let supervisor = directory.groups.first?.members.first ?? directory.people.first?.code
            let actors: [Actor] = [
                unit.map { Actor(kind: .unit, code: $0.code) }, agency.map { Actor(kind: .agency, code: $0) },
                member.map { Actor(kind: .member, code: $0) }, supervisor.map { Actor(kind: .supervisor, code: $0) }, Actor.admin,
            ].compactMap { $0 }
            let store = TokenStore(client: client)
            for token in try await store.list(logger: logger) where token.name.hasPrefix("demo ") && token.revokedAt == nil {
                _ = try await store.revoke(id: token.id, logger: logger)
            }
            var made: [(Actor, String)] = []
            for actor in actors {
                made.append((actor, try await store.create(actor: actor, name: "demo \(actor.kind.rawValue)", expiresAt: nil, logger: logger).secret))
            }
            return made
        }
    }

    /// One web account per kind of actor (`demo.unit@example.org`, ...), with a new password each
    /// run, printed in the banner; made on the first run, their password set again on the next.
    static func demoAccounts(_ settings: DatabaseSettings, actors: [Actor], settings accountSettings: AccountSettings,
                             logger: Logger) async throws -> [(actor: Actor, email: String, password: String)] {
        try await Daemon.withClient(settings, applicationName: "escalated-demo", logger: logger) { client in
            let directory = try await DirectoryStore(client: client).load(logger: logger).directory
            let store = AccountStore(client: client, settings: accountSettings)
            let names: [ActorKind: String] = [.unit: "Nguyễn Thị Lan", .agency: "Trần Văn Bình", .admin: "Quản trị hệ thống"]
            var made: [(Actor, String, String)] = []
            for actor in actors {
                let email = "demo.\(actor.kind.rawValue)@example.org"
                let person = actor.code.flatMap { code in directory.people.first { $0.code == code }?.name }
                let name = names[actor.kind] ?? person ?? actor.description
                let password = demoPassword()
                let secret: String
                let purpose: LinkPurpose
                if let existing = try await store.account(email: email, logger: logger), !existing.isDisabled, existing.scope == actor {
                    guard let link = try await store.issueLink(accountID: existing.id, purpose: .reset, logger: logger) else { continue }
                    (secret, purpose) = (link, .reset)
                } else if try await store.account(email: email, logger: logger) == nil {
                    (secret, purpose) = (try await store.create(name: name, email: email, locale: .vi, scope: actor, invite: false, logger: logger).invitation, .invitation)
                } else {
                    continue
                }
                _ = try await store.setPassword(secret: secret, purpose: purpose, password: password, logger: logger)
                made.append((actor, email, password))
            }
            return made
        }
    }

    /// Twelve letters and digits, without look-alikes (0/O, 1/l/I).
    static func demoPassword() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<12).map { _ in alphabet.randomElement(using: &generator)! })
    }

    static func printBanner(host: String, port: Int, database: DatabaseSettings, mail: String?, tokens: [(actor: Actor, secret: String)],
                            accounts: [(actor: Actor, email: String, password: String)] = []) {
        let base = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        let emailWidth = accounts.map(\.email.count).max() ?? 0
        let accountLines = accounts.map { "    \($0.email.padding(emailWidth + 2))\($0.password)   \($0.actor.description)" }.joined(separator: "\n")
        let width = tokens.map { $0.actor.description.count }.max() ?? 0
        let tokenLines = tokens.map { "    \($0.actor.description.padding(width + 2))\($0.secret)" }.joined(separator: "\n")
        let unitToken = tokens.first { $0.actor.kind == .unit }
        let agencyToken = tokens.first { $0.actor.kind == .agency }
        print("""

            escalated is running at \(base)

              Sign in at \(base)/sign-in (one account per role; passwords are new each run):
            \(accountLines)

              One token per kind of actor (made for this run; the previous run's are revoked):
            \(tokenLines)

              File a report as the unit:
                export UNIT_TOKEN=\(unitToken?.secret ?? "<token>")
                curl -s -X POST \(base)/v1/issues -H "Authorization: Bearer $UNIT_TOKEN" -H 'Content-Type: application/json' \\
                  -d '{"sector":"land","severity":"normal","title":"Chậm cấp giấy chứng nhận quyền sử dụng đất","reporter":"Văn phòng UBND"}'
              The agency's inbox:
                export AGENCY_TOKEN=\(agencyToken?.secret ?? "<token>")
                curl -s \(base)/v1/inbox -H "Authorization: Bearer $AGENCY_TOKEN"
              Acknowledge it:      curl -s -X POST \(base)/v1/issues/1/acknowledge -H "Authorization: Bearer $AGENCY_TOKEN"
              The contract:        curl -s \(base)/openapi.yaml
              Health:              curl -s \(base)/readyz
              From the shell:      escalated issues list    (uses this demo's database)
              Database:            export DATABASE_URL=\(database.url)\(mail.map { "\n  Emails (as files):   \($0)" } ?? "")

            Press Ctrl-C to stop (PostgreSQL stops with it; the data stays for the next run).

            """)
    }
}

/// Checks whether a TCP port can be bound right now.
enum HTTPPort {
    static func isFree(host: String, port: Int) -> Bool {
        guard port != 0 else { return true }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        if address.sin_addr.s_addr == INADDR_NONE { return true }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
