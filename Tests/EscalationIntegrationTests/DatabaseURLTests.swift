import EscalationStore
import Testing

/// `DATABASE_URL` and `ESCALATED_LISTEN_URL` as libpq reads them: one host or several.
@Suite("Database URLs")
struct DatabaseURLTests {
    @Test("a single host keeps today's behaviour: used as it is, never probed")
    func singleHost() throws {
        let settings = try DatabaseSettings(url: "postgres://app:s%40cret@db.example.org:6432/escalated?sslmode=require")
        #expect(settings.endpoints == [.init(host: "db.example.org", port: 6432)])
        #expect(settings.username == "app")
        #expect(settings.password == "s@cret")
        #expect(settings.database == "escalated")
        #expect(settings.tls == .require)
        #expect(settings.target == .any)
        #expect(!settings.followsPrimary)
        #expect(settings.description == "postgres://app:***@db.example.org:6432/escalated?sslmode=require")
        // The full form round-trips (it is what a child process is handed).
        let again = try DatabaseSettings(url: settings.url)
        #expect(again.password == "s@cret" && again.endpoints == settings.endpoints && again.tls == .require)
    }

    @Test("several hosts with target_session_attrs=read-write follow the primary, in the order given")
    func severalHosts() throws {
        let settings = try DatabaseSettings(
            url: "postgresql://escalated@db1:5432,db2,[2001:db8::7]:5433/escalated?target_session_attrs=read-write")
        #expect(settings.endpoints == [.init(host: "db1", port: 5432), .init(host: "db2", port: 5432), .init(host: "2001:db8::7", port: 5433)])
        #expect(settings.target == .readWrite)
        #expect(settings.followsPrimary)
        #expect(settings.description == "postgres://escalated@db1:5432,db2:5432,[2001:db8::7]:5433/escalated?target_session_attrs=read-write")
        let again = try DatabaseSettings(url: settings.url)
        #expect(again.endpoints == settings.endpoints && again.target == .readWrite)
        // A single host may ask for the writable server too: it is then probed, and refused while a standby.
        #expect(try DatabaseSettings(url: "postgres://u@db1/escalated?target_session_attrs=primary").followsPrimary)
        // Several hosts with `any`: the first that answers.
        let any = try DatabaseSettings(url: "postgres://u@db1,db2/escalated")
        #expect(any.target == .any && any.followsPrimary)
    }

    @Test("a malformed URL is refused with one sentence naming the variable and what is wrong", arguments: [
        ("mysql://u@h/db", "DATABASE_URL must look like postgres://"),
        ("postgres://u@/db", "DATABASE_URL has no host"),
        ("postgres://u@db1,,db2/db", "DATABASE_URL has an empty host in its host list"),
        ("postgres://u@db1:99999/db", "DATABASE_URL has a port that is not a number from 1 to 65535"),
        ("postgres://u@db1:abc,db2/db", "DATABASE_URL has a port that is not a number from 1 to 65535 ('abc' in 'db1:abc')"),
        ("postgres://u@[::1/db", "DATABASE_URL has an IPv6 host without its closing ']'"),
        ("postgres://u@db1,db2", "DATABASE_URL has no database name after the host"),
        ("postgres://u@db1/db?target_session_attrs=standby", "DATABASE_URL target_session_attrs must be any, read-write or primary (got 'standby')"),
        ("postgres://u@db1/db?connect_timeout=3", "DATABASE_URL has an unknown parameter 'connect_timeout'"),
    ])
    func refused(url: String, message: String) {
        #expect {
            _ = try DatabaseSettings(url: url)
        } throws: { error in
            (error as? SettingsError)?.message.hasPrefix(message) == true
        }
    }

    @Test("the listener's URL is named in its own messages")
    func listenVariable() {
        #expect {
            _ = try DatabaseSettings(url: "postgres://u@/db", variable: "ESCALATED_LISTEN_URL")
        } throws: { error in
            (error as? SettingsError)?.message == "ESCALATED_LISTEN_URL has no host"
        }
    }
}
