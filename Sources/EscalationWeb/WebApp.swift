import EscalationCore
public import EscalationStore
import Foundation
public import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore
import PostgresNIO

/// A request context the web app can serve: Hummingbird's, plus the client's address (sign-in
/// attempts are throttled per address).
public protocol WebRequestContext: RequestContext {
    var clientAddress: String { get }
}

/// How the web app behaves.
public struct WebConfiguration: Sendable {
    /// The address people reach the daemon at: links in emails, and `Secure` cookies when it is https.
    public var publicURL: String = "http://127.0.0.1:8080"
    public var accounts = AccountSettings()
    /// Rows per page of a list.
    public var pageSize: Int = 50
    /// The most rows a CSV export holds.
    public var csvLimit: Int = 10_000

    public init() {}

    /// Whether cookies are sent only over https.
    public var secureCookies: Bool { publicURL.lowercased().hasPrefix("https://") }
}

/// The web app: server-rendered pages over the same stores as the API, on the same port.
///
/// Pages work without JavaScript (links and forms); one small script (`web/static/live.js`) keeps
/// lists and issue pages current from ``LiveFeed``'s Server-Sent Events. Every page that shows
/// issues reads them within the signed-in person's scope, as the API does; every form that changes
/// something carries the session's CSRF token and is refused (403, nothing changed) without it.
public final class WebApp: Sendable {
    let client: Database
    let cache: RoutingTableCache
    let configuration: WebConfiguration
    let accounts: AccountStore
    let sessions: SessionStore
    let issues: IssueStore
    let lifecycle: LifecycleStore
    let deliveries: DeliveryStore
    let pages: PageRenderer
    let logger: Logger
    /// The live feed (a service: add it to the application's services).
    public let live: LiveFeed
    /// Deletes expired sessions (a service too).
    public let pruner: SessionPruner

    public init(client: Database, cache: RoutingTableCache, instance: String, configuration: WebConfiguration, logger: Logger) throws {
        self.client = client
        self.cache = cache
        self.configuration = configuration
        accounts = AccountStore(client: client, settings: configuration.accounts)
        sessions = SessionStore(client: client, policy: configuration.accounts.session)
        issues = IssueStore(client: client)
        lifecycle = LifecycleStore(client: client, cache: cache)
        deliveries = DeliveryStore(client: client, instance: instance)
        pages = try PageRenderer.bundled()
        self.logger = logger
        live = LiveFeed(store: EventFeedStore(client: client), logger: logger.with("service", "live"))
        pruner = SessionPruner(sessions: sessions, logger: logger.with("service", "sessions"))
    }

    /// The cookie that holds the session's secret.
    static let sessionCookie = "escalated_session"
    /// The cookie behind the sign-in form's CSRF token (no session exists yet).
    static let signInCookie = "escalated_signin"

    /// Adds the web app's routes to `router`: pages at `/`, `/sign-in`, `/issues...`, `/admin/...`,
    /// the live stream at `/live` and the static files at `/static/`.
    public func register<Context: WebRequestContext>(on router: Router<Context>) {
        let web = router.group().add(middleware: WebErrorMiddleware<Context>(app: self))
        web.get("/") { request, context in try await self.home(request, context) }
        web.get("/static/:name") { _, context in
            self.pages.asset(context.parameters.get("name") ?? "") ?? self.notFound(locale: .vi)
        }
        web.get("/sign-in") { request, context in try await self.signInPage(request, context) }
        web.post("/sign-in") { request, context in try await self.signIn(request, context) }
        web.post("/sign-out") { request, context in try await self.signOut(request, context) }
        web.get("/forgot") { request, context in try await self.forgotPage(request, context) }
        web.post("/forgot") { request, context in try await self.forgot(request, context) }
        for purpose in LinkPurpose.allCases {
            let path = purpose.path(secret: ":secret")
            web.get(RouterPath(path)) { request, context in try await self.passwordPage(request, context, purpose: purpose) }
            web.post(RouterPath(path)) { request, context in try await self.setPassword(request, context, purpose: purpose) }
        }
        web.get("/issues") { request, context in try await self.list(request, context, csv: false) }
        web.get("/issues.csv") { request, context in try await self.list(request, context, csv: true) }
        web.get("/issues/new") { request, context in try await self.reportPage(request, context) }
        web.post("/issues/new") { request, context in try await self.report(request, context) }
        web.get("/issues/:id") { request, context in try await self.issuePage(request, context) }
        web.post("/issues/:id/:action") { request, context in try await self.act(request, context) }
        // A refused form is shown at the address it was posted to; reloading it shows the issue.
        web.get("/issues/:id/:action") { _, context in PageRenderer.redirect("/issues/\(context.parameters.get("id").flatMap(Int64.init) ?? 0)") }
        web.get("/dashboard") { request, context in try await self.dashboardPage(request, context, printable: false) }
        web.get("/dashboard.csv") { request, context in try await self.dashboardCSV(request, context) }
        web.get("/report") { request, context in try await self.dashboardPage(request, context, printable: true) }
        web.get("/live") { request, context in try await self.stream(request, context) }
        web.get("/admin/accounts") { request, context in try await self.accountsPage(request, context) }
        web.post("/admin/accounts") { request, context in try await self.createAccount(request, context) }
        web.post("/admin/accounts/:id/:action") { request, context in try await self.changeAccount(request, context) }
        web.get("/admin/directory") { request, context in try await self.directoryPage(request, context) }
        web.get("/admin/directory.yaml") { request, context in try await self.downloadDirectory(request, context) }
        web.post("/admin/directory") { request, context in try await self.uploadDirectory(request, context) }
        web.get("/admin/tokens") { request, context in try await self.tokensPage(request, context) }
        web.post("/admin/tokens") { request, context in try await self.createToken(request, context) }
        web.post("/admin/tokens/:id/revoke") { request, context in try await self.revokeToken(request, context) }
        web.get("/admin/deliveries") { request, context in try await self.deliveriesPage(request, context) }
        web.post("/admin/deliveries/:id/retry") { request, context in try await self.retryDelivery(request, context) }
    }

    /// The paths the web app answers (the API answers the others with its JSON errors).
    public static func owns(path: String) -> Bool {
        !(path == "/v1" || path.hasPrefix("/v1/") || ["/healthz", "/readyz", "/metrics", "/openapi.yaml"].contains(path))
    }

    // MARK: Sessions

    /// Who is signed in, and what their pages need.
    struct Viewer: Sendable {
        var session: SessionStore.Session
        var actor: Actor { session.account.scope }
        var account: AccountStore.Account { session.account }
        var locale: PersonLocale { session.account.locale }
        var person: LifecycleStore.Person { .init(accountID: account.id, name: account.name) }
    }

    /// The signed-in viewer, or nil (no cookie, or its session ended).
    func viewer(_ request: Request) async throws -> Viewer? {
        guard let secret = request.cookies[Self.sessionCookie]?.value, !secret.isEmpty else { return nil }
        guard let session = try await sessions.authenticate(secret, logger: logger) else { return nil }
        return Viewer(session: session)
    }

    /// What a handler answers instead of going on (a redirect to sign in, a refusal): thrown, and
    /// answered by ``WebErrorMiddleware``.
    struct Refusal: Error {
        var response: Response
    }

    /// The signed-in viewer; otherwise throws a ``Refusal`` that redirects to the sign-in page and
    /// comes back here afterwards.
    func requireViewer(_ request: Request) async throws -> Viewer {
        if let viewer = try await viewer(request) { return viewer }
        let back = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
        let ended = request.cookies[Self.sessionCookie] != nil
        throw Refusal(response: PageRenderer.redirect("/sign-in?next=\(Self.queryEscape(back))\(ended ? "&ended=1" : "")"))
    }

    /// A form's fields, after checking its CSRF token against the viewer's session; nil when the
    /// token is missing or wrong (the caller answers 403 and changes nothing).
    func form(_ request: Request, viewer: Viewer) async throws -> FormFields? {
        let fields = try await FormFields.read(request)
        guard viewer.session.verifyCSRF(fields["csrf"] ?? "") else {
            logger.notice("form refused: CSRF token missing or wrong", metadata: ["account.id": "\(viewer.account.id)", "path": "\(request.uri.path)"])
            return nil
        }
        return fields
    }

    func sessionCookie(_ value: String, maxAge: Int) -> Cookie {
        Cookie(name: Self.sessionCookie, value: value, maxAge: maxAge, path: "/", secure: configuration.secureCookies, httpOnly: true, sameSite: .lax)
    }

    // MARK: Pages shared

    /// The values every page's layout reads: words, the person, the navigation, the CSRF token.
    func layout(_ viewer: Viewer?, locale: PersonLocale, title: String) -> [String: Any] {
        var values: [String: Any] = ["t": WebText.strings(locale), "page_title": title]
        guard let viewer else { return values }
        let t = WebText.strings(locale)
        var nav: [[String: Any]] = []
        switch viewer.actor.kind {
        case .unit:
            nav = [["href": "/issues", "label": t["my_reports"]!], ["href": "/issues/new", "label": t["new_report"]!]]
        case .agency:
            nav = [["href": "/issues", "label": t["inbox"]!]]
        case .member:
            nav = [["href": "/issues", "label": t["area_issues"]!]]
        case .supervisor:
            nav = [["href": "/issues", "label": t["all_issues"]!]]
        case .admin:
            nav = [["href": "/issues", "label": t["all_issues"]!], ["href": "/issues/new", "label": t["new_report"]!],
                   ["href": "/admin/accounts", "label": t["accounts"]!], ["href": "/admin/directory", "label": locale == .vi ? "Danh mục" : "Directory"],
                   ["href": "/admin/tokens", "label": t["tokens"]!], ["href": "/admin/deliveries", "label": t["deliveries"]!]]
        }
        // Everyone may see the dashboard of their own scope (the province, an area, an agency, a unit).
        nav.insert(["href": "/dashboard", "label": t["dashboard"]!], at: 1)
        values["me"] = ["name": viewer.account.name, "scope": viewer.actor.description]
        values["nav"] = nav
        values["csrf"] = viewer.session.csrfToken
        return values
    }

    func message(_ viewer: Viewer?, locale: PersonLocale, title: String, text: String, status: HTTPResponse.Status) -> Response {
        var values = layout(viewer, locale: locale, title: title)
        values["heading"] = title
        values["text"] = text
        return pages.render("message", values, status: status)
    }

    func notFound(locale: PersonLocale, viewer: Viewer? = nil) -> Response {
        let t = WebText.strings(locale)
        return message(viewer, locale: locale, title: t["not_found"]!, text: t["not_found_help"]!, status: .notFound)
    }

    /// The page for a refusal the router makes itself (no such page: 404; a method the page does not take: 405).
    public func refusal(_ status: HTTPResponse.Status) -> Response {
        if status == .notFound { return notFound(locale: .vi) }
        let t = WebText.strings(.vi)
        if status == .contentTooLarge {
            return message(nil, locale: .vi, title: t["too_large"]!, text: t["too_large_help"]!, status: status)
        }
        return message(nil, locale: .vi, title: t["invalid"]!, text: "\(status.code) \(status.reasonPhrase)", status: status)
    }

    func csrfRefused(_ viewer: Viewer) -> Response {
        let t = WebText.strings(viewer.locale)
        return message(viewer, locale: viewer.locale, title: t["forbidden"]!, text: t["csrf_refused"]!, status: .forbidden)
    }

    func forbidden(_ viewer: Viewer) -> Response {
        let t = WebText.strings(viewer.locale)
        return message(viewer, locale: viewer.locale, title: t["forbidden"]!, text: t["not_found_help"]!, status: .forbidden)
    }

    /// The directory as of now (names, sectors, chains, calendars), from the shared cache.
    func directory() async throws -> RoutingTableCache.Compiled {
        try await client.withConnection { connection in
            let rows = try await connection.query("SELECT revision FROM escalated.directory_meta", logger: self.logger).decode(Int64.self)
            var revision: Int64 = 0
            for try await value in rows { revision = value }
            return try await self.cache.compiled(revision: revision, connection: connection, logger: self.logger)
        }
    }

    func home(_ request: Request, _ context: some RequestContext) async throws -> Response {
        if try await viewer(request) != nil { return PageRenderer.redirect("/issues") }
        return PageRenderer.redirect("/sign-in")
    }

    static func queryEscape(_ text: String) -> String {
        // Codes and dates, most of what goes in a link, need nothing (a dashboard makes thousands).
        if text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || "-._~".utf8.contains($0) }) {
            return text
        }
        return text.addingPercentEncoding(withAllowedCharacters: queryAllowed) ?? ""
    }

    private static let queryAllowed: CharacterSet = {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return allowed
    }()

    /// A path this site may redirect to after sign-in (never another host).
    static func safeNext(_ text: String?) -> String {
        // Browsers drop tabs and line breaks from URLs ("/\t/evil" becomes "//evil"), and read "\" as "/":
        // a path with any control character or whitespace is refused whole.
        guard let text, text.hasPrefix("/"),
              !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.isWhitespace }) else { return "/issues" }
        let path = text.replacingOccurrences(of: "\\", with: "/")
        guard !path.hasPrefix("//") else { return "/issues" }
        return text
    }
}

/// Answers what a web handler throws with an HTML page and no details (they go to the log), so a
/// browser never sees a JSON error or a stack of text; the request changed nothing it did not commit.
struct WebErrorMiddleware<Context: WebRequestContext>: RouterMiddleware {
    let app: WebApp

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let refusal as WebApp.Refusal {
            return refusal.response
        } catch let error as FormFields.Unreadable {
            let t = WebText.strings(.vi)
            return app.message(nil, locale: .vi, title: t["invalid"]!, text: error.description, status: .badRequest)
        } catch let error as HTTPError where error.status.code < 500 {
            throw error
        } catch {
            context.logger.error("web request failed", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            let t = WebText.strings(.vi)
            // Database trouble (a failover, say): the browser or a proxy may come back in a moment.
            var response = app.message(nil, locale: .vi, title: t["error"]!, text: t["error_help"]!, status: .serviceUnavailable)
            response.headers[.retryAfter] = "5"
            return response
        }
    }
}

extension Logger {
    func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy[metadataKey: key] = .string(value)
        return copy
    }
}
