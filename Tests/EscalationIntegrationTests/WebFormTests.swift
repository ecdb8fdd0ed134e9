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
    /// Bad input on the forms nobody has to be signed in for, the operator's token page, and a body
    /// over the size limit: each is answered with a page (4xx, the message beside the form) and
    /// changes nothing. Over real HTTP to the daemon.
    @Suite("Web: bad input is answered with a page and changes nothing")
    struct WebFormTests {
        typealias Browser = WebAccountEmailTests.Browser

        @Test("sign-in and forgot-password refuse missing, wrong and forged input; the token page makes, shows once and revokes; an oversized upload is a 413 page")
        func badInput() async throws {
            let settings = try await TestPostgres.freshDatabase()
            try await InProcessDaemon.with(settings, configure: { $0.web.accounts.passwordCost = 4 }) { port in
                try await TestPostgres.withClient(settings) { client in
                    let store = AccountStore(client: client)
                    let made = try await store.create(name: "Quản trị", email: "admin@example.org", locale: .vi, scope: Actor(kind: .admin, code: nil),
                                                      invite: false, logger: testLogger)
                    _ = try await store.setPassword(secret: made.invitation, purpose: .invitation, password: "một mật khẩu đủ dài", logger: testLogger)
                }
                let browser = Browser(port: port)
                do {
                    try await steps(browser)
                } catch {
                    try await browser.close()
                    throw error
                }
                try await browser.close()
            }

            @Sendable func steps(_ browser: Browser) async throws {
                func sessions() async throws -> Int64 { try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.sessions") }

                // Sign-in.
                var form = try await browser.request("/sign-in")
                var token = try #require(Browser.csrf(form.body))
                let forged = try await browser.request("/sign-in", form: ["email": "admin@example.org", "password": "một mật khẩu đủ dài"])
                #expect(forged.status == 403 && forged.body.contains("Biểu mẫu đã hết hiệu lực"), "without its CSRF token: \(forged.status)")
                #expect(forged.body.contains(#"value="admin@example.org""#), "the email typed is kept")
                // Each form the sign-in page shows comes with a cookie of its own, behind its token.
                token = try #require(Browser.csrf(forged.body))
                let noEmail = try await browser.request("/sign-in", form: ["csrf": token, "email": "", "password": "x"])
                #expect(noEmail.status == 400 && noEmail.body.contains("Mời nhập thư điện tử và mật khẩu."))
                form = try await browser.request("/sign-in")
                token = try #require(Browser.csrf(form.body))
                let noPassword = try await browser.request("/sign-in", form: ["csrf": token, "email": "admin@example.org"])
                #expect(noPassword.status == 400 && noPassword.body.contains(#"value="admin@example.org""#))
                form = try await browser.request("/sign-in")
                let wrong = try await browser.request("/sign-in", form: ["csrf": try #require(Browser.csrf(form.body)), "email": "admin@example.org", "password": "sai mật khẩu rồi"])
                #expect(wrong.status == 401 && wrong.body.contains("Thư điện tử hoặc mật khẩu không đúng."))
                let garbage = try await browser.post("/sign-in", contentType: "application/x-www-form-urlencoded", body: Array("%%%&&==&csrf=%zz&email".utf8))
                #expect((400..<500).contains(garbage.status), "a malformed form is a 4xx: \(garbage.status)")
                let json = try await browser.post("/sign-in", contentType: "application/json", body: Array(#"{"email":"admin@example.org"}"#.utf8))
                #expect((400..<500).contains(json.status), "a body of another type is a 4xx: \(json.status)")
                #expect(try await sessions() == 0, "no session was made")

                // Forgotten password: a malformed address comes back with the form; nothing is queued.
                let forgot = try await browser.request("/forgot")
                let badEmail = try await browser.request("/forgot", form: ["csrf": try #require(Browser.csrf(forgot.body)), "email": "không phải <thư>"])
                #expect(badEmail.status == 400 && badEmail.body.contains("Địa chỉ thư điện tử không hợp lệ."))
                #expect(badEmail.body.contains("value=\"không phải &lt;thư&gt;\""), "the address typed is kept, escaped")
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.outbox WHERE kind = 'reset'") == 0)

                form = try await browser.request("/sign-in")
                let signedIn = try await browser.request("/sign-in", form: ["csrf": try #require(Browser.csrf(form.body)), "email": "admin@example.org",
                                                                          "password": "một mật khẩu đủ dài", "next": "/admin/tokens"])
                #expect(signedIn.status == 303 && signedIn.location == "/admin/tokens")

                // Tokens: refused without the session's CSRF token, and with a code the directory lacks.
                func tokens() async throws -> Int64 { try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.tokens") }
                let page = try await browser.request("/admin/tokens")
                #expect(page.status == 200 && page.body.contains("Mã truy cập API"))
                let csrf = try #require(Browser.csrf(page.body))
                let noCSRF = try await browser.request("/admin/tokens", form: ["name": "Cổng", "kind": "unit", "code": "N1"])
                #expect(noCSRF.status == 403)
                let unknown = try await browser.request("/admin/tokens", form: ["csrf": csrf, "name": "Cổng", "kind": "unit", "code": "khong-co"])
                #expect(unknown.status == 400 && unknown.body.contains("Không có mã này trong danh mục."))
                let badDays = try await browser.request("/admin/tokens", form: ["csrf": csrf, "name": "Cổng", "kind": "unit", "code": "N1", "days": "mười"])
                #expect(badDays.status == 400 && badDays.body.contains("từ 1 đến 3650") && badDays.body.contains(#"value="mười""#))
                let badKind = try await browser.request("/admin/tokens", form: ["csrf": csrf, "name": "Cổng", "kind": "king", "code": "N1"])
                #expect(badKind.status == 400)
                #expect(try await tokens() == 0, "no token was made")
                let good = try await browser.request("/admin/tokens", form: ["csrf": csrf, "name": "Cổng dịch vụ công", "kind": "unit", "code": "N1", "days": "30"])
                let secret = try #require(good.body.firstMatch(of: /id="token-secret">(esc_[A-Za-z0-9_-]{43})</).map { String($0.1) })
                #expect(good.status == 200 && TokenText.isWellFormed(secret))
                let id = try await TestPostgres.scalar(settings, "SELECT id FROM escalated.tokens WHERE name = 'Cổng dịch vụ công' AND actor_code = 'N1' AND expires_at > now() + interval '29 days'")
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.tokens WHERE secret_hash = sha256(convert_to('\(secret)', 'UTF8'))") == 1,
                        "the token shown is the one whose hash is stored")
                let listed = try await browser.request("/admin/tokens")
                #expect(listed.body.contains("Cổng dịch vụ công") && !listed.body.contains(secret), "listed by name, the token itself not shown again")
                #expect(try await browser.request("/admin/tokens/\(id)/revoke", form: [:]).status == 403)
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.tokens WHERE revoked_at IS NOT NULL") == 0)
                let revoked = try await browser.request("/admin/tokens/\(id)/revoke", form: ["csrf": csrf])
                #expect(revoked.status == 303 && revoked.location == "/admin/tokens?revoked=\(id)")
                #expect(try await TestPostgres.scalar(settings, "SELECT count(*) FROM escalated.tokens WHERE revoked_at IS NOT NULL") == 1)
                #expect(try await browser.request("/admin/tokens/\(id)/revoke", form: ["csrf": csrf]).status == 404, "a second revoke finds nothing to revoke")

                // A directory file over 4 MB: a page, not the API's JSON; the directory unchanged.
                let revision = try await TestPostgres.scalar(settings, "SELECT revision FROM escalated.directory_meta")
                let boundary = "xYzBoundary"
                var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n\(csrf)\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.yaml\"\r\nContent-Type: application/x-yaml\r\n\r\n".utf8)
                body += Array(repeating: UInt8(ascii: "#"), count: 5 << 20)
                body += Array("\r\n--\(boundary)--\r\n".utf8)
                let large = try await browser.post("/admin/directory", contentType: "multipart/form-data; boundary=\(boundary)", body: body)
                #expect(large.status == 413 && large.contentType?.hasPrefix("text/html") == true && large.body.contains("Nội dung gửi quá lớn"),
                        "\(large.status) \(large.contentType ?? "") \(large.body.prefix(300))")
                #expect(try await TestPostgres.scalar(settings, "SELECT revision FROM escalated.directory_meta") == revision)
                // The API's own paths keep their JSON answer.
                let bearer = try await TestTokens.make(settings, "admin")
                let api = try await browser.post("/v1/issues", contentType: "application/json", body: Array(repeating: UInt8(ascii: " "), count: 100_000),
                                                 headers: ["Authorization": "Bearer \(bearer)"])
                #expect(api.status == 413 && api.contentType?.hasPrefix("application/") == true && api.body.contains("body_too_large"), "\(api.status) \(api.contentType ?? "") \(api.body.prefix(300))")
            }
        }
    }
}

extension IntegrationTests.WebAccountEmailTests.Browser {
    /// A POST of any body and type, with the cookies kept so far.
    func post(_ path: String, contentType: String, body: [UInt8], headers: [String: String] = [:]) async throws -> (status: Int, contentType: String?, body: String) {
        var request = HTTPClientRequest(url: base + path)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(bytes: body))
        if !cookies.isEmpty { request.headers.add(name: "Cookie", value: cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let text = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers["Content-Type"].first, String(buffer: text))
    }
}
