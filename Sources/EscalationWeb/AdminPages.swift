import EscalationCore
import EscalationStore
import Foundation
import Logging
import HTTPTypes
import Hummingbird

/// The operator's pages: accounts (create, disable, invite again) and deliveries (dead ones, retry).
extension WebApp {
    /// The signed-in operator; anyone else is refused (403), and nobody signed in is sent to sign in.
    func requireAdmin(_ request: Request) async throws -> Viewer {
        let viewer = try await requireViewer(request)
        guard viewer.actor.may(.operate) else { throw Refusal(response: forbidden(viewer)) }
        return viewer
    }

    func accountsPage(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        let response = try await renderAccounts(viewer: viewer, form: ["locale": "vi", "kind": "unit"], errors: [:], link: nil, status: .ok,
                                                notice: request.uri.queryParameters["invited"] != nil ? WebText.strings(viewer.locale)["done"] : nil)
        return response
    }

    func renderAccounts(viewer: Viewer, form: [String: String], errors: [String: String], link: String?, status: HTTPResponse.Status,
                        notice: String? = nil) async throws -> Response {
        let t = WebText.strings(viewer.locale)
        let wording = try await directory().wording(viewer.locale)
        var values = layout(viewer, locale: viewer.locale, title: t["accounts"]!)
        values["accounts"] = try await accounts.list(logger: logger).map { account -> [String: Any] in
            [
                "id": "\(account.id)", "name": account.name, "email": account.email, "locale": account.locale.rawValue,
                "scope": wording.names.actor(account.scope.description, locale: viewer.locale), "scope_code": account.scope.description,
                "status": account.isDisabled ? t["disabled"]! : (account.passwordSetAt == nil ? t["invited"]! : t["active"]!),
                "can_disable": !account.isDisabled, "can_invite": !account.isDisabled && account.passwordSetAt == nil,
            ]
        }
        values["v"] = form
        values["e"] = errors
        if !errors.isEmpty { values["error"] = t["fix_below"]! }
        values["kinds"] = ActorKind.allCases.map { ["value": $0.rawValue, "label": wording.actorKind($0), "selected": form["kind"] == $0.rawValue] }
        values["locales"] = PersonLocale.allCases.map { ["value": $0.rawValue, "label": $0 == .vi ? "Tiếng Việt" : "English", "selected": form["locale"] == $0.rawValue] }
        if let link { values["link"] = link }
        if let notice { values["notice"] = notice }
        return pages.render("accounts", values, status: status)
    }

    func createAccount(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        guard let fields = try await form(request, viewer: viewer) else { return csrfRefused(viewer) }
        var form = fields.values
        form["csrf"] = nil
        var errors: [String: String] = [:]
        let t = WebText.strings(viewer.locale)
        var name = "", email = "", locale = PersonLocale.vi
        var scope: Actor?
        do { name = try TokenText.name(fields["name"] ?? "") } catch { errors["name"] = Self.fieldMessage(error, locale: viewer.locale) }
        do { email = try AccountText.email(fields["email"] ?? "") } catch {
            errors["email"] = viewer.locale == .vi ? "Địa chỉ thư điện tử không hợp lệ." : error.message.capitalizedFirst
        }
        do { locale = try AccountText.locale(fields["locale"]) } catch { errors["locale"] = t["invalid"]! }
        scope = Self.scopeField(fields, locale: viewer.locale, errors: &errors)
        guard errors.isEmpty, let scope else {
            return try await renderAccounts(viewer: viewer, form: form, errors: errors, link: nil, status: .badRequest)
        }
        do {
            let made = try await accounts.create(name: name, email: email, locale: locale, scope: scope, logger: logger)
            let link = configuration.publicURL.trimmingSuffix("/") + LinkPurpose.invitation.path(secret: made.invitation)
            return try await renderAccounts(viewer: viewer, form: ["locale": "vi", "kind": "unit"], errors: [:], link: link, status: .ok)
        } catch let error as AccountStore.AccountError {
            switch error {
            case .unknownScope: errors["code"] = viewer.locale == .vi ? "Không có mã này trong danh mục." : "No such code in the directory."
            case .duplicateEmail: errors["email"] = viewer.locale == .vi ? "Đã có tài khoản dùng địa chỉ này." : "Another account has this email."
            }
            return try await renderAccounts(viewer: viewer, form: form, errors: errors, link: nil, status: .badRequest)
        }
    }

    /// The scope a form names by its `kind` and `code` fields, or nil with the message beside `code`.
    static func scopeField(_ fields: FormFields, locale: PersonLocale, errors: inout [String: String]) -> Actor? {
        let kind = fields["kind"] ?? ""
        do {
            return try Actor.parse(fields.text("code").map { "\(kind):\($0)" } ?? kind, field: "code")
        } catch {
            errors["code"] = locale == .vi ? "Phạm vi phải là một mã trong danh mục (đơn vị, cơ quan hoặc người)." : error.message.capitalizedFirst
            return nil
        }
    }

    func changeAccount(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        guard try await form(request, viewer: viewer) != nil else { return csrfRefused(viewer) }
        guard let id = context.parameters.get("id").flatMap(Int64.init) else { return notFound(locale: viewer.locale, viewer: viewer) }
        switch context.parameters.get("action") {
        case "disable":
            _ = try await accounts.disable(id: id, logger: logger)
            return PageRenderer.redirect("/admin/accounts")
        case "invite":
            // A new invitation email (the earlier links stay usable until a password is set).
            guard try await accounts.queueEmail(accountID: id, purpose: .invitation, logger: logger) else {
                return notFound(locale: viewer.locale, viewer: viewer)
            }
            return PageRenderer.redirect("/admin/accounts?invited=\(id)")
        default:
            return notFound(locale: viewer.locale, viewer: viewer)
        }
    }

    func deliveriesPage(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        let t = WebText.strings(viewer.locale)
        let dead = request.uri.queryParameters["state"] == "dead"
        let wording = try await directory().wording(viewer.locale)
        var values = layout(viewer, locale: viewer.locale, title: t["deliveries"]!)
        values["dead"] = dead
        values["rows"] = try await deliveries.list(state: dead ? "dead" : nil, before: nil, limit: 200, logger: logger).map { d -> [String: Any] in
            let parts = d.recipient.split(separator: ":", maxSplits: 1).map(String.init)
            let name = parts.count == 2 ? wording.names.target(kind: TargetKind(rawValue: parts[0]) ?? .agency, code: parts[1]) : d.recipient
            return ["id": "\(d.id)", "issue": d.issueID.map { "\($0)" } ?? "", "kind": d.kind, "recipient": name, "channel": d.channel,
                    "state": d.state, "is_dead": d.state == "dead", "attempts": "\(d.attempts)", "answer": d.lastAnswer ?? "",
                    "at": wording.dateTime(d.sentAt ?? d.createdAt)]
        }
        return pages.render("deliveries", values)
    }

    func retryDelivery(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        guard try await form(request, viewer: viewer) != nil else { return csrfRefused(viewer) }
        guard let id = context.parameters.get("id").flatMap(Int64.init) else { return notFound(locale: viewer.locale, viewer: viewer) }
        _ = try await deliveries.retry(id: id, logger: logger)
        return PageRenderer.redirect("/admin/deliveries?state=dead")
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
