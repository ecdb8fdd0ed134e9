import EscalationCore
import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The operator's API tokens page: every token (never the secret, which is not kept), a form to
/// make one (the secret shown once, on the answer to that form), and a revoke button per token.
/// The same rules as `escalated tokens create|list|revoke`.
extension WebApp {
    func tokensPage(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        let notice = request.uri.queryParameters["revoked"].map { _ in WebText.strings(viewer.locale)["token_revoked"]! }
        return try await renderTokens(viewer: viewer, form: ["kind": "agency"], errors: [:], secret: nil, status: .ok, notice: notice)
    }

    func renderTokens(viewer: Viewer, form: [String: String], errors: [String: String], secret: String?, status: HTTPResponse.Status,
                      notice: String? = nil) async throws -> Response {
        let t = WebText.strings(viewer.locale)
        let wording = try await directory().wording(viewer.locale)
        let store = TokenStore(client: client)
        let now = Date()
        var values = layout(viewer, locale: viewer.locale, title: t["tokens"]!)
        values["tokens"] = try await store.list(logger: logger).map { token -> [String: Any] in
            let expired = token.expiresAt.map { $0 <= now } ?? false
            let state = token.revokedAt.map { "\(t["token_revoked_at"]!) \(wording.dateTime($0))" }
                ?? (expired ? t["token_expired"]! : t["active"]!)
            return [
                "id": "\(token.id)", "name": token.name, "scope": wording.names.actor(token.actor, locale: viewer.locale), "scope_code": token.actor,
                "created": wording.dateTime(token.createdAt), "expires": token.expiresAt.map(wording.dateTime) ?? t["never_expires"]!,
                "used": token.lastUsedAt.map(wording.dateTime) ?? t["never_used"]!, "state": state,
                "can_revoke": token.revokedAt == nil && !expired,
            ]
        }
        values["v"] = form
        values["e"] = errors
        if !errors.isEmpty { values["error"] = t["fix_below"]! }
        values["kinds"] = ActorKind.allCases.map { ["value": $0.rawValue, "label": wording.actorKind($0), "selected": form["kind"] == $0.rawValue] }
        if let secret { values["secret"] = secret }
        if let notice { values["notice"] = notice }
        return pages.render("tokens", values, status: status)
    }

    func createToken(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        guard let fields = try await form(request, viewer: viewer) else { return csrfRefused(viewer) }
        var form = fields.values
        form["csrf"] = nil
        let vi = viewer.locale == .vi
        var errors: [String: String] = [:]
        var name = ""
        do { name = try TokenText.name(fields["name"] ?? "") } catch { errors["name"] = Self.fieldMessage(error, locale: viewer.locale) }
        let scope = Self.scopeField(fields, locale: viewer.locale, errors: &errors)
        var expires: Date?
        if let days = fields.text("days") {
            if let number = Int(days), (1...3650).contains(number) {
                expires = Date().addingTimeInterval(Double(number) * 86_400)
            } else {
                errors["days"] = vi ? "Số ngày hiệu lực là một số nguyên từ 1 đến 3650 (để trống: không hết hạn)." : "Days valid is a whole number from 1 to 3650 (empty: never expires)."
            }
        }
        guard errors.isEmpty, let scope else {
            return try await renderTokens(viewer: viewer, form: form, errors: errors, secret: nil, status: .badRequest)
        }
        do {
            let made = try await TokenStore(client: client).create(actor: scope, name: name, expiresAt: expires, logger: logger)
            logger.info("token made on the web", metadata: ["token": "\(made.token.id)", "actor": "\(made.token.actor)", "account": "\(viewer.account.id)"])
            return try await renderTokens(viewer: viewer, form: ["kind": "agency"], errors: [:], secret: made.secret, status: .ok)
        } catch TokenStore.TokenError.unknownActor {
            errors["code"] = vi ? "Không có mã này trong danh mục." : "No such code in the directory."
            return try await renderTokens(viewer: viewer, form: form, errors: errors, secret: nil, status: .badRequest)
        }
    }

    func revokeToken(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        guard try await form(request, viewer: viewer) != nil else { return csrfRefused(viewer) }
        guard let id = context.parameters.get("id").flatMap(Int64.init), try await TokenStore(client: client).revoke(id: id, logger: logger) else {
            return notFound(locale: viewer.locale, viewer: viewer)
        }
        logger.info("token revoked on the web", metadata: ["token": "\(id)", "account": "\(viewer.account.id)"])
        return PageRenderer.redirect("/admin/tokens?revoked=\(id)")
    }
}
