import EscalationCore
import EscalationDelivery
import EscalationServer
import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension IntegrationTests {
    /// The email hook against a real SMTP server (aiosmtpd) on loopback.
    @Suite("The email hook")
    struct DeliveryTests {
        static let from = MailAddress(name: "escalated", address: "escalated@example.org")!

        static func smtp(_ server: SMTPServer, auth: Bool = false) -> MailConfiguration {
            MailConfiguration(
                transport: .smtp(SMTPSettings(host: "127.0.0.1", port: server.port, startTLS: .opportunistic,
                                              username: auth ? "escalated" : nil, password: auth ? "secret" : nil)),
                from: from)
        }

        static func configure(_ mail: MailConfiguration, retry: RetryPolicy = RetryPolicy()) -> @Sendable (inout DaemonConfiguration) -> Void {
            { config in
                config.deliverer.mail = mail
                config.deliverer.publicURL = "https://escalated.example.org"
                config.deliverer.retry = retry
            }
        }

        static let sent = "SELECT count(*) FROM escalated.outbox WHERE state = 'sent'"

        @Test("routing and every escalation step reach a real SMTP server (AUTH) once each, in Vietnamese or English, with stable Message-IDs")
        func deliversOnce() async throws {
            let server = try SMTPServer(requireAuth: true)
            try await server.start()
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings, configure: Self.configure(Self.smtp(server, auth: true))) { _ in
                try await TestPostgres.execute(settings, """
                    INSERT INTO escalated.issues (unit_code, sector_code, severity, title, description)
                    VALUES ('S1', 'roads', 'urgent', 'Sạt lở đường liên xã', 'Đường vào bản bị sạt lở sau mưa lớn.')
                    """)
                // Routed to the agency, then the agency twice, the member (English), the supervisors (Vietnamese).
                try await TestPostgres.waitUntil(settings, Self.sent, equals: 5, timeout: .seconds(30))
            }
            let ids = try await TestPostgres.strings(settings, "SELECT kind || ' ' || recipient_code || ' ' || id FROM escalated.outbox ORDER BY id")
            #expect(ids.map { $0.split(separator: " ").dropLast().joined(separator: " ") } == [
                "routed land-dept", "escalated land-dept", "reminder land-dept", "escalated m-south", "escalated office"])
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE transport = 'smtp' AND last_answer LIKE '250 %' AND attempts = 1") == 5)
            let mails = server.messages.map(ReceivedMail.init)
            #expect(mails.count == 5)
            let expectedIDs = Set(ids.map { "<escalated.1.d\($0.split(separator: " ").last!)@example.org>" })
            #expect(Set(mails.compactMap { $0.header("Message-ID") }) == expectedIDs)
            let routed = try #require(mails.first { $0.header("X-Escalated-Kind") == "routed" })
            #expect(routed.header("Subject") == "[escalated #1] Phản ánh mới: Sạt lở đường liên xã (Xã Nam 1)")
            #expect(routed.header("To") == "Sở Nông nghiệp và Môi trường <land@example.org>")
            #expect(routed.header("From") == "\"escalated\" <escalated@example.org>")
            #expect(routed.part("text/plain")?.contains("Đường vào bản bị sạt lở sau mưa lớn.") == true)
            #expect(routed.part("text/plain")?.contains("https://escalated.example.org/issues/1") == true)
            #expect(routed.part("text/html")?.contains("<h2>Sạt lở đường liên xã</h2>") == true)
            let english = try #require(mails.first { $0.header("To")?.contains("m-south@example.org") == true })
            #expect(english.header("Subject") == "[escalated #1] Overdue, not acknowledged (level 2): Sạt lở đường liên xã")
            #expect(english.part("text/plain")?.contains("Dear Member South,") == true)
            #expect(english.part("text/plain")?.contains(#/by \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2} and/#) == true)
            let reminder = try #require(mails.first { $0.header("X-Escalated-Kind") == "reminder" })
            #expect(reminder.header("Subject") == "[escalated #1] Nhắc lần 1: quá hạn tiếp nhận: Sạt lở đường liên xã")
            let supervisors = try #require(mails.first { $0.header("To")?.contains("office@example.org") == true })
            #expect(supervisors.header("Subject")?.hasPrefix("[escalated #1] Quá hạn tiếp nhận (cấp 3)") == true)
        }

        @Test("hostile values (CR/LF, HTML, very long Vietnamese text) are delivered safely: no header injected, HTML escaped, text exact")
        func hostileValues() async throws {
            let server = try SMTPServer()
            try await server.start()
            let settings = try await TestPostgres.freshDatabase()
            let title = "Đường hỏng\r\nBcc: victim@example.org <script>alert(1)</script>"
            let description = String(repeating: "Tiếng Việt có dấu: ằ ẳ ẵ ặ ệ ộ ữ. ", count: 280)
            try await InProcessDaemon.with(settings, configure: Self.configure(Self.smtp(server))) { _ in
                try await TestPostgres.execute(settings, """
                    INSERT INTO escalated.issues (unit_code, sector_code, title, description)
                    VALUES ('N1', 'land', '\(title.replacingOccurrences(of: "'", with: "''"))', '\(description)')
                    """)
                try await TestPostgres.waitUntil(settings, Self.sent, equals: 1, timeout: .seconds(20))
            }
            let raw = try #require(server.messages.first)
            let mail = ReceivedMail(raw)
            #expect(mail.headers.allSatisfy { $0.0.lowercased() != "bcc" }, "\(mail.headers)")
            #expect(raw.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n").allSatisfy { !$0.lowercased().hasPrefix("bcc:") })
            #expect(mail.header("Subject")?.contains("Bcc: victim@example.org") == true, "the header text stays, on one line")
            let html = try #require(mail.part("text/html"))
            #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"))
            let text = try #require(mail.part("text/plain"))
            #expect(text.contains(description.trimmingCharacters(in: .whitespaces)))
            #expect(text.contains("<script>alert(1)</script>"), "plain text is not HTML-escaped")
        }

        @Test("the SMTP server is down for a while, then back: every message arrives exactly once, none lost")
        func serverDownThenBack() async throws {
            let server = try SMTPServer()
            let settings = try await TestPostgres.freshDatabase()
            let fast = RetryPolicy(initialSeconds: 0.2, maximumSeconds: 0.5, maximumAttempts: 1000)
            try await InProcessDaemon.with(settings, configure: Self.configure(Self.smtp(server), retry: fast)) { _ in
                try await TestPostgres.insertIssues(settings, count: 10)
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE attempts >= 2 AND last_answer LIKE 'cannot connect%'", equals: 10, timeout: .seconds(30))
                try await server.start()
                try await TestPostgres.waitUntil(settings, Self.sent, equals: 10, timeout: .seconds(30))
            }
            let ids = server.messages.map(ReceivedMail.init).compactMap { $0.header("Message-ID") }
            #expect(ids.count == 10)
            #expect(Set(ids).count == 10)
        }

        @Test("SMTP 5xx dead-letters at once and 4xx is retried; dead letters are listed and can be re-driven")
        func deadLetters() async throws {
            let server = try SMTPServer()
            try await server.start()
            let settings = try await TestPostgres.freshDatabase()
            var directory = TestDirectory.make()
            directory.agencies[0].emails = ["reject@example.org"]
            directory.agencies[1].emails = ["later@example.org"]
            let bad = directory
            try await TestPostgres.withClient(settings) { _ = try await DirectoryStore(client: $0).importDirectory(bad, logger: testLogger) }
            let fast = RetryPolicy(initialSeconds: 0.1, maximumSeconds: 0.2, maximumAttempts: 1000)
            try await APITests.app(settings, configure: Self.configure(Self.smtp(server), retry: fast)).testLive { raw in
                let client = try await AuthedClient(raw, settings: settings)
                try await InProcessDaemon.waitForListener(settings, count: 1)
                try await TestPostgres.insertIssues(settings, count: 1, sector: "land")
                try await TestPostgres.insertIssues(settings, count: 1, sector: "health")
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE state = 'dead'", equals: 1, timeout: .seconds(20))
                try await TestPostgres.waitUntil(settings, "SELECT least(max(attempts), 3) FROM escalated.outbox WHERE recipient_code = 'health-dept'", equals: 3, timeout: .seconds(20))
                #expect(try await TestPostgres.scalar(settings, "SELECT attempts FROM escalated.outbox WHERE state = 'dead'") == 1)

                let dead = try APITests.object(try await client.execute(uri: "/v1/deliveries?state=dead", method: .get).body)
                let items = try #require(dead["items"] as? [[String: Any]])
                #expect(items.count == 1)
                #expect((items.first?["last_answer"] as? String)?.hasPrefix("550 RCPT TO") == true)
                let id = try #require(items.first?["id"] as? Int)
                #expect(try await client.execute(uri: "/v1/deliveries?state=lost", method: .get).status == .badRequest)

                // The directory is fixed; the dead letter is re-driven and goes out.
                let fixed = TestDirectory.make()
                try await TestPostgres.withClient(settings) { _ = try await DirectoryStore(client: $0).importDirectory(fixed, logger: testLogger) }
                #expect(try await client.execute(uri: "/v1/deliveries/\(id)/retry", method: .post).status == .ok)
                #expect(try await client.execute(uri: "/v1/deliveries/\(id)/retry", method: .post).status == .conflict)
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE id = \(id) AND state = 'sent'", equals: 1, timeout: .seconds(20))
            }
            #expect(server.messages.map(ReceivedMail.init).contains { $0.header("To")?.contains("land@example.org") == true })
        }

        @Test("a daemon killed with SIGKILL in the middle of sending: after restart every message arrives, at most one duplicate, with the same Message-ID")
        func killedWhileSending() async throws {
            let server = try SMTPServer()
            try await server.start()
            let settings = try await TestPostgres.freshDatabase()
            let env = ["ESCALATED_SMTP_URL": "smtp://127.0.0.1:\(server.port)", "ESCALATED_MAIL_FROM": "escalated@example.org",
                       "ESCALATED_DELIVERY_LEASE": "2s"]
            try await TestPostgres.insertIssues(settings, count: 3)
            let doomed = try DaemonProcess.serve(settings, environment: env.merging(["ESCALATED_TEST_HOLD_DELIVERY": "60s"]) { $1 })
            // Sent, not yet recorded: the daemon holds after sending (test hook).
            let deadline = ContinuousClock.now + .seconds(30)
            while server.messages.count < 3 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(server.messages.count == 3)
            #expect(try await TestPostgres.scalar(settings, Self.sent) == 0)
            doomed.signal(SIGKILL)
            _ = try await doomed.waitForExit()

            let daemon = try DaemonProcess.serve(settings, environment: env)
            try await TestPostgres.waitUntil(settings, Self.sent, equals: 3, timeout: .seconds(30))
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
            let ids = server.messages.map(ReceivedMail.init).compactMap { $0.header("Message-ID") }
            #expect(Set(ids).count == 3, "every message arrived")
            #expect(ids.count <= 6, "at most one duplicate per message for the one crash")
            for id in Set(ids) { #expect(ids.filter { $0 == id }.count <= 2) }
        }

        @Test("without a mail server the demo's file transport writes each message once as an .eml file")
        func fileTransport() async throws {
            let folder = NSTemporaryDirectory() + "escalated-mail-\(UInt32.random(in: 0...UInt32.max))"
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings, configure: Self.configure(MailConfiguration(transport: .folder(folder), from: Self.from))) { _ in
                try await TestPostgres.insertIssues(settings, count: 2)
                try await TestPostgres.waitUntil(settings, Self.sent, equals: 2, timeout: .seconds(20))
            }
            let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".eml") }.sorted()
            #expect(files == ["escalated.1.d1@example.org.eml", "escalated.2.d2@example.org.eml"])
            let mail = ReceivedMail(try String(contentsOfFile: folder + "/" + files[0], encoding: .utf8))
            #expect(mail.header("Subject") == "[escalated #1] Phản ánh mới: report 1 (Xã Bắc 1)")
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE transport = 'file'") == 2)
        }
    
        @Test("each supervisor group gets one daily digest across three daemons and a restart; `digest send` adds one on demand; the report counts what is open, overdue and resolved")
        func digests() async throws {
            let server = try SMTPServer()
            try await server.start()
            let settings = try await TestPostgres.freshDatabase()
            let env = ["ESCALATED_SMTP_URL": "smtp://127.0.0.1:\(server.port)", "ESCALATED_MAIL_FROM": "escalated@example.org"]
            var daemons = try (0..<3).map { _ in try DaemonProcess.serve(settings, environment: env) }
            try await InProcessDaemon.waitForListener(settings, count: 3)
            try await TestPostgres.insertFastIssues(settings, count: 3)
            try await TestPostgres.insertIssues(settings, count: 2)
            try await TestPostgres.waitUntil(settings, TestPostgres.routedCount, equals: 5, timeout: .seconds(10))
            _ = try await TestPostgres.withClient(settings) { client in
                try await LifecycleStore(client: client, cache: RoutingTableCache()).perform(.resolve(resolution: "Xong"), issue: 5, actor: .admin, logger: testLogger)
            }
            try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.issues WHERE due_at < now()", equals: 3, timeout: .seconds(10))

            // Digests at 00:00 local time: due as soon as the directory says so.
            var directory = TestDirectory.make()
            directory.groups[0].digestMinute = 0
            let withDigest = directory
            try await TestPostgres.withClient(settings) { _ = try await DirectoryStore(client: $0).importDirectory(withDigest, logger: testLogger) }
            let sentDigests = "SELECT count(*) FROM escalated.outbox WHERE kind = 'digest' AND state = 'sent'"
            try await TestPostgres.waitUntil(settings, sentDigests, equals: 1, timeout: .seconds(20))
            // A restart does not make it again.
            daemons[0].signal(SIGTERM)
            #expect(try await daemons[0].waitForExit() == 0)
            daemons[0] = try DaemonProcess.serve(settings, environment: env)
            try await InProcessDaemon.waitForListener(settings, count: 3)
            try await Task.sleep(for: .seconds(1))
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.digests WHERE scheduled") == 1)
            #expect(try await TestPostgres.scalar(settings, sentDigests) == 1)

            let send = try DaemonProcess(arguments: ["digest", "send", "--group", "supervisors"], environment: ["DATABASE_URL": settings.url])
            #expect(try await send.waitForExit() == 0, "\(send.log)")
            #expect(send.log.contains("for supervisors queued"))
            try await TestPostgres.waitUntil(settings, sentDigests, equals: 2, timeout: .seconds(20))
            #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.digests WHERE NOT scheduled") == 1)
            for daemon in daemons { daemon.signal(SIGTERM) }
            for daemon in daemons { #expect(try await daemon.waitForExit() == 0) }

            let digest = try #require(server.messages.map(ReceivedMail.init).first { $0.header("X-Escalated-Kind") == "digest" })
            let day = DigestService.local(Date(), directory: withDigest).day
            #expect(digest.header("Subject") == "[escalated] Báo cáo ngày \(Wording(locale: .vi, timeZone: withDigest.timeZone).date(day)): 4 đang xử lý, 3 quá hạn")
            #expect(digest.header("To") == "Văn phòng <office@example.org>")
            let text = try #require(digest.part("text/plain"))
            #expect(text.contains("Đang xử lý: 4   Quá hạn: 3   Đã giải quyết trong 24 giờ qua: 1"), "\(text)")
            #expect(text.contains("  Khu vực Bắc: 4 / 3 / 1"), "\(text)")
            #expect(text.contains("  Sở Nông nghiệp và Môi trường: 4 / 3 / 1"), "\(text)")
            #expect(text.contains("  #1 report 1 (Xã Bắc 1)"), "\(text)")
            #expect(digest.part("text/html")?.contains("<td>Khu vực Bắc</td><td>4</td><td>3</td><td>1</td>") == true)
        }
    
        @Test("STARTTLS (required) with AUTH LOGIN, and TLS from the first byte, verified against a private CA; an unknown CA, a missing STARTTLS and a silent server fail as transient")
        func tls() async throws {
            let certificates = NSTemporaryDirectory() + "escalated-tls-\(UInt32.random(in: 0...UInt32.max))"
            defer { try? FileManager.default.removeItem(atPath: certificates) }
            let (ca, cert, key) = try SMTPServer.makeCertificates(in: certificates)
            let starttls = try SMTPServer(requireAuth: true, options: ["--login-only", "--starttls", cert, key])
            let implicit = try SMTPServer(options: ["--tls", cert, key])
            let plain = try SMTPServer()
            for server in [starttls, implicit, plain] { try await server.start() }
            let to = try #require(MailAddress(name: "Sở Y tế", address: "so-y-te@example.org"))
            let message = MailMessage(from: Self.from, to: [to], subject: "Kiểm tra TLS", text: "Nội dung", html: "<p>Nội dung</p>",
                                      messageID: "tls-1@example.org", date: Date())

            var login = SMTPSettings(host: "127.0.0.1", port: starttls.port, startTLS: .required, username: "escalated", password: "secret")
            login.caFile = ca
            let loggedIn = await SMTPTransport(settings: login).send(message)
            #expect(loggedIn.isSent, "\(loggedIn)")
            #expect(starttls.messages.count == 1)
            var tls = SMTPSettings(host: "127.0.0.1", port: implicit.port, implicitTLS: true)
            tls.caFile = ca
            #expect(await SMTPTransport(settings: tls).send(message).isSent)
            #expect(ReceivedMail(try #require(implicit.messages.first)).header("Subject") == "Kiểm tra TLS")

            var untrusted = tls
            untrusted.caFile = nil
            let refused = await SMTPTransport(settings: untrusted).send(message)
            #expect(refused.isTransient, "\(refused)")
            #expect(implicit.messages.count == 1)
            let noStartTLS = await SMTPTransport(settings: SMTPSettings(host: "127.0.0.1", port: plain.port, startTLS: .required)).send(message)
            #expect(noStartTLS == .transient("the server does not offer STARTTLS, which is required"))
            // aiosmtpd never answers a failed AUTH (it keeps the client waiting): the step's
            // timeout ends it, and the delivery is retried later, not lost.
            var wrong = login
            wrong.password = "guess"
            wrong.timeout = .seconds(2)
            let denied = await SMTPTransport(settings: wrong).send(message)
            #expect(denied == .transient("cannot connect to \(wrong): no reply to AUTH LOGIN password in time"), "\(denied)")
            #expect(plain.messages.isEmpty && starttls.messages.count == 1)
        }
    }
}

extension DeliveryOutcome {
    var isSent: Bool { if case .sent = self { true } else { false } }
    var isTransient: Bool { if case .transient = self { true } else { false } }
}
