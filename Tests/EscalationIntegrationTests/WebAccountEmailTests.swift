import AsyncHTTPClient
import EscalationCore
import EscalationServer
import EscalationStore
import EscalationTestSupport
import EscalationWeb
import Foundation
import NIOCore
import NIOHTTP1
import Testing

extension IntegrationTests {
    /// Invitations and password resets reach people by email, through the outbox; the link in the
    /// email sets a password once, then the person signs in. Over real HTTP to the daemon.
    @Suite("Web: invitation and reset emails")
    struct WebAccountEmailTests {
        /// A tiny browser: keeps cookies, does not follow redirects.
        final class Browser: @unchecked Sendable {
            let base: String
            var cookies: [String: String] = [:]
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
            init(port: Int) { base = "http://127.0.0.1:\(port)" }
            func close() async throws { try await client.shutdown() }

            func request(_ path: String, form: [String: String]? = nil) async throws -> (status: Int, location: String?, body: String) {
                var request = HTTPClientRequest(url: base + path)
                if let form {
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                    let body = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
                    request.body = .bytes(ByteBuffer(string: body))
                }
                if !cookies.isEmpty { request.headers.add(name: "Cookie", value: cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")) }
                let response = try await client.execute(request, timeout: .seconds(30))
                for header in response.headers["Set-Cookie"] {
                    let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1).map(String.init)
                    if pair.count == 2 { cookies[pair[0]] = pair[1].isEmpty ? nil : pair[1] }
                }
                let body = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), response.headers["Location"].first, String(buffer: body))
            }

            static func csrf(_ html: String) -> String? {
                html.firstMatch(of: /name="csrf" value="([^"]+)"/).map { String($0.1) }
            }
        }

        @Test("a new account's invitation email sets a password once; the person signs in; a reset by email sets a new one and the old stops working")
        func invitationAndReset() async throws {
            let folder = NSTemporaryDirectory() + "escalated-mail-\(UInt32.random(in: 0...UInt32.max))"
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let settings = try await TestPostgres.freshDatabase()
            @Sendable func mails(_ kind: String) throws -> [ReceivedMail] {
                let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
                return try files.filter { $0.hasSuffix(".eml") }.sorted()
                    .map { ReceivedMail(try String(contentsOfFile: folder + "/" + $0, encoding: .utf8)) }
                    .filter { $0.header("X-Escalated-Kind") == kind }
            }
            @Sendable func link(_ mail: ReceivedMail, _ purpose: LinkPurpose) throws -> String {
                let text = try #require(mail.part("text/plain"))
                let path = purpose.path(secret: "")
                return try #require(text.firstMatch(of: try Regex("https://escalated.example.org(\(path)[A-Za-z0-9_-]{43})")).map { String($0.output[1].substring ?? "") })
            }
            let configure = DeliveryTests.configure(MailConfiguration(transport: .folder(folder), from: DeliveryTests.from))
            try await InProcessDaemon.with(settings, configure: { config in
                configure(&config)
                config.web.accounts.passwordCost = 4
            }) { port in
                let made = try await TestPostgres.withClient(settings) { client in
                    try await AccountStore(client: client).create(name: "Nguyễn Thị Lan", email: "lan@example.org", locale: .vi,
                                                                  scope: Actor(kind: .unit, code: "N1"), logger: testLogger)
                }
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE kind = 'invitation' AND state = 'sent'", equals: 1)
                let invitation = try #require(try mails("invitation").first)
                #expect(invitation.header("To")?.contains("lan@example.org") == true)
                #expect(invitation.header("Subject") == "[escalated] Mời sử dụng hệ thống phản ánh khó khăn, vướng mắc")
                let path = try link(invitation, .invitation)
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE data::text LIKE '%secret%'") == 0,
                        "the link's secret is not stored in the outbox")

                let browser = Browser(port: port)
                do {
                let page = try await browser.request(path)
                #expect(page.status == 200 && page.body.contains("Nguyễn Thị Lan"))
                let token = try #require(Browser.csrf(page.body))
                let short = try await browser.request(path, form: ["csrf": token, "password": "ngắn", "password_again": "ngắn"])
                #expect(short.status == 400 && short.body.contains("Mật khẩu phải có từ 10 ký tự"), "a short password is refused beside the form")
                let set = try await browser.request(path, form: ["csrf": token, "password": "mật khẩu đủ dài", "password_again": "mật khẩu đủ dài"])
                #expect(set.status == 303 && set.location == "/sign-in?set=1", "\(set.status) \(set.body.prefix(2000))")
                #expect(try await browser.request(path).status == 404, "the link works once")
                // The link the CLI printed at creation stays usable until a password is set; now it is void too.
                #expect(try await browser.request(LinkPurpose.invitation.path(secret: made.invitation)).status == 404)

                func signIn(_ password: String) async throws -> Int {
                    let form = try await browser.request("/sign-in")
                    let answer = try await browser.request("/sign-in", form: ["csrf": try #require(Browser.csrf(form.body)), "email": "lan@example.org",
                                                                           "password": password, "next": "/issues"])
                    return answer.status
                }
                #expect(try await signIn("mật khẩu đủ dài") == 303)
                #expect(try await browser.request("/issues").status == 200)

                // Forgotten: the page answers the same for an unknown address, and sends one email for a known one.
                let forgot = try await browser.request("/forgot")
                let unknown = try await browser.request("/forgot", form: ["csrf": try #require(Browser.csrf(forgot.body)), "email": "nobody@example.org"])
                let again = try await browser.request("/forgot")
                let known = try await browser.request("/forgot", form: ["csrf": try #require(Browser.csrf(again.body)), "email": "lan@example.org"])
                #expect(unknown.status == 200 && known.status == 200)
                #expect(unknown.body.contains("Nếu địa chỉ này có tài khoản") && known.body.contains("Nếu địa chỉ này có tài khoản"))
                try await TestPostgres.waitUntil(settings, "SELECT count(*) FROM escalated.outbox WHERE kind = 'reset' AND state = 'sent'", equals: 1)
                let reset = try link(try #require(try mails("reset").first), .reset)
                let resetPage = try await browser.request(reset)
                _ = try await browser.request(reset, form: ["csrf": try #require(Browser.csrf(resetPage.body)), "password": "một mật khẩu mới hơn",
                                                           "password_again": "một mật khẩu mới hơn"])
                #expect(try await signIn("mật khẩu đủ dài") == 401, "the old password no longer signs in")
                #expect(try await signIn("một mật khẩu mới hơn") == 303)
                } catch {
                    try await browser.close()
                    throw error
                }
                try await browser.close()
            }
        }
    }
}
