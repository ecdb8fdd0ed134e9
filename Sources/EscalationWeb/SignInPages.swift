import EscalationCore
import EscalationStore
import Foundation
import Logging
import HTTPTypes
import Hummingbird

/// Signing in and out, and setting a password through an invitation or reset link.
extension WebApp {
    /// A new random value for the sign-in form's cookie (256 bits, base64url).
    static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return String(TokenText.encode(bytes).dropFirst(TokenText.prefix.count))
    }

    func signInPage(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let t = WebText.strings(.vi)
        var notice: String?
        if query["out"] != nil { notice = t["signed_out"] }
        if query["ended"] != nil { notice = t["session_ended"] }
        if query["set"] != nil { notice = t["password_set"] }
        return signInForm(next: WebApp.safeNext(query["next"].map(String.init)), email: "", notice: notice, error: nil, status: .ok)
    }

    /// The sign-in form, with a fresh cookie behind its CSRF token (there is no session yet, so
    /// the token is bound to this cookie: a form posted from another site lacks it).
    func signInForm(next: String, email: String, notice: String?, error: String?, status: HTTPResponse.Status) -> Response {
        let secret = Self.randomSecret()
        var values = layout(nil, locale: .vi, title: WebText.vi["sign_in"]!)
        values["next"] = next
        values["email"] = email
        values["csrf"] = CSRFToken.make(sessionSecret: secret)
        if let notice { values["notice"] = notice }
        if let error { values["error"] = error }
        var response = pages.render("sign-in", values, status: status)
        response.setCookie(signInFormCookie(secret, maxAge: 3600))
        return response
    }

    /// The cookie behind the sign-in and forgot-password forms' CSRF tokens (empty with maxAge 0: gone).
    func signInFormCookie(_ value: String, maxAge: Int) -> Cookie {
        Cookie(name: Self.signInCookie, value: value, maxAge: maxAge, path: "/", secure: configuration.secureCookies, httpOnly: true, sameSite: .lax)
    }

    // MARK: Forgotten passwords

    func forgotPage(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        forgotForm(email: "", notice: nil, error: nil, status: .ok)
    }

    func forgotForm(email: String, notice: String?, error: String?, status: HTTPResponse.Status) -> Response {
        let secret = Self.randomSecret()
        var values = layout(nil, locale: .vi, title: WebText.vi["forgot_title"]!)
        values["email"] = email
        values["csrf"] = CSRFToken.make(sessionSecret: secret)
        if let notice { values["notice"] = notice } else { values["show_form"] = true }
        if let error { values["error"] = error }
        var response = pages.render("forgot", values, status: status)
        response.setCookie(signInFormCookie(secret, maxAge: 3600))
        return response
    }

    /// Queues a reset email when the address has an enabled account, and answers the same either
    /// way, so that the page does not tell who has an account.
    func forgot(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let fields = try await FormFields.read(request)
        let email = fields.text("email") ?? ""
        guard let cookie = request.cookies[Self.signInCookie]?.value, CSRFToken.verify(fields["csrf"] ?? "", sessionSecret: cookie) else {
            return forgotForm(email: email, notice: nil, error: WebText.vi["csrf_refused"], status: .forbidden)
        }
        guard (try? AccountText.email(email)) != nil else {
            return forgotForm(email: email, notice: nil, error: "Địa chỉ thư điện tử không hợp lệ.", status: .badRequest)
        }
        if let account = try await accounts.account(email: email, logger: logger), !account.isDisabled {
            try await accounts.queueEmail(accountID: account.id, purpose: .reset, logger: logger)
        }
        return forgotForm(email: "", notice: WebText.vi["forgot_sent"], error: nil, status: .ok)
    }

    func signIn(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let fields = try await FormFields.read(request)
        let next = WebApp.safeNext(fields["next"])
        let email = fields.text("email") ?? ""
        guard let cookie = request.cookies[Self.signInCookie]?.value, CSRFToken.verify(fields["csrf"] ?? "", sessionSecret: cookie) else {
            return signInForm(next: next, email: email, notice: nil, error: WebText.vi["csrf_refused"], status: .forbidden)
        }
        guard !email.isEmpty, let password = fields["password"], !password.isEmpty else {
            return signInForm(next: next, email: email, notice: nil, error: "Mời nhập thư điện tử và mật khẩu.", status: .badRequest)
        }
        do {
            let (_, secret) = try await accounts.signIn(email: email, password: password, address: context.clientAddress, logger: logger)
            // A session the browser had before (another person's, or planted) ends here.
            if let old = request.cookies[Self.sessionCookie]?.value, !old.isEmpty {
                _ = try? await sessions.signOut(old, logger: logger)
            }
            let maxAge = Int(configuration.accounts.session.absolute.timeInterval)
            return PageRenderer.redirect(next, cookies: [
                sessionCookie(secret, maxAge: maxAge),
                signInFormCookie("", maxAge: 0),
            ])
        } catch let error as AccountStore.SignInError {
            let message: String
            switch error {
            case .invalidCredentials: message = "Thư điện tử hoặc mật khẩu không đúng."
            case .disabled: message = "Tài khoản này đã bị khóa. Mời liên hệ quản trị viên."
            case .throttled(let retryAt):
                let wording = Wording(locale: .vi, timeZone: try await directory().directory.timeZone)
                message = "Đăng nhập sai quá nhiều lần. Mời thử lại sau \(wording.dateTime(retryAt))."
            }
            return signInForm(next: next, email: email, notice: nil, error: message, status: error == .invalidCredentials || error == .disabled ? .unauthorized : .tooManyRequests)
        }
    }

    func signOut(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        guard let viewer = try await viewer(request) else { return PageRenderer.redirect("/sign-in") }
        guard try await form(request, viewer: viewer) != nil else { return csrfRefused(viewer) }
        if let secret = request.cookies[Self.sessionCookie]?.value {
            _ = try await sessions.signOut(secret, logger: logger)
        }
        logger.info("signed out", metadata: ["account.id": "\(viewer.account.id)"])
        return PageRenderer.redirect("/sign-in?out=1", cookies: [sessionCookie("", maxAge: 0)])
    }

    // MARK: Passwords

    func passwordPage(_ request: Request, _ context: some WebRequestContext, purpose: LinkPurpose) async throws -> Response {
        let secret = context.parameters.get("secret") ?? ""
        guard let account = try await accounts.linkAccount(secret: secret, purpose: purpose, logger: logger) else {
            return linkInvalid()
        }
        return passwordForm(secret: secret, account: account, purpose: purpose, error: nil, status: .ok)
    }

    func passwordForm(secret: String, account: AccountStore.Account, purpose: LinkPurpose, error: String?, status: HTTPResponse.Status) -> Response {
        let locale = account.locale
        let t = WebText.strings(locale)
        var values = layout(nil, locale: locale, title: t["set_password"]!)
        values["account_name"] = account.name
        values["account_email"] = account.email
        values["action"] = purpose.path(secret: secret)
        // Bound to the link's secret: a form posted without knowing the link cannot carry it.
        values["csrf"] = CSRFToken.make(sessionSecret: secret)
        values["minimum"] = "\(configuration.accounts.password.minimumLength)"
        if let error { values["error"] = error }
        return pages.render("password", values, status: status)
    }

    func linkInvalid() -> Response {
        let t = WebText.strings(.vi)
        return message(nil, locale: .vi, title: t["set_password"]!, text: t["link_invalid"]!, status: .notFound)
    }

    func setPassword(_ request: Request, _ context: some WebRequestContext, purpose: LinkPurpose) async throws -> Response {
        let secret = context.parameters.get("secret") ?? ""
        let fields = try await FormFields.read(request)
        guard let account = try await accounts.linkAccount(secret: secret, purpose: purpose, logger: logger) else { return linkInvalid() }
        guard CSRFToken.verify(fields["csrf"] ?? "", sessionSecret: secret) else {
            return passwordForm(secret: secret, account: account, purpose: purpose, error: WebText.strings(account.locale)["csrf_refused"], status: .forbidden)
        }
        let vi = account.locale == .vi
        let password = fields["password"] ?? ""
        do {
            _ = try configuration.accounts.password.check(password)
        } catch {
            let message = vi ? "Mật khẩu phải có từ \(configuration.accounts.password.minimumLength) ký tự và không quá \(configuration.accounts.password.maximumBytes) byte."
                : "The password must be at least \(configuration.accounts.password.minimumLength) characters and at most \(configuration.accounts.password.maximumBytes) bytes."
            return passwordForm(secret: secret, account: account, purpose: purpose, error: message, status: .badRequest)
        }
        guard password == fields["password_again"] else {
            return passwordForm(secret: secret, account: account, purpose: purpose,
                                error: vi ? "Hai lần nhập mật khẩu không giống nhau." : "The two passwords differ.", status: .badRequest)
        }
        do {
            _ = try await accounts.setPassword(secret: secret, purpose: purpose, password: password, logger: logger)
        } catch AccountStore.LinkError.invalid {
            return linkInvalid()
        }
        return PageRenderer.redirect("/sign-in?set=1")
    }
}
