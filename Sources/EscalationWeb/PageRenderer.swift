import Crypto
import EscalationCore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The pages (`web/pages/*.mustache`, embedded in the binary) and the static files
/// (`web/static/`), and how a page becomes a response: every value HTML-escaped by Mustache's
/// `{{...}}` (no template uses the unescaped form) or by an ``HTMLFragment``, the security headers
/// on every answer.
struct PageRenderer: Sendable {
    /// The pages once per language: each `{{t.KEY}}` of a template is replaced, when the pages are
    /// loaded, by that language's text (``WebText``), escaped as Mustache would escape it. The words
    /// of a page cost nothing per request, and a page has far fewer tags to look up.
    private let libraries: [PersonLocale: MustacheLibrary]
    /// Static files by name, with their content type and a version (a hash of the bytes) that
    /// goes in their URL, so browsers may keep them for a long time and still see a new release.
    let assets: [String: Asset]

    struct Asset: Sendable {
        var bytes: ByteBuffer
        var contentType: String
        var version: String
    }

    /// The names of the pages every build must have.
    static let pages = ["sign-in", "password", "forgot", "issues", "issue", "report", "message", "accounts", "deliveries", "directory", "dashboard", "print"]

    static func bundled() throws -> PageRenderer {
        var libraries: [PersonLocale: MustacheLibrary] = [:]
        MustacheContentTypes.register(HTMLBytes(), named: HTMLBytes.name)
        for locale in PersonLocale.allCases {
            var library = MustacheLibrary()
            for file in EmbeddedPages.files {
                guard let data = Data(base64Encoded: file.base64) else { continue }
                // Each template (a partial starts again with Mustache's own HTML type) escapes with ``escape(_:)``.
                let source = "{{% CONTENT_TYPE: \(HTMLBytes.name)}}\n" + withWords(String(decoding: data, as: UTF8.self), WebText.strings(locale))
                try library.register(source, named: String(file.name.dropLast(".mustache".count)))
            }
            for page in pages where library.getTemplate(named: page) == nil {
                throw MissingPage(name: page)
            }
            libraries[locale] = library
        }
        var assets: [String: Asset] = [:]
        for (files, type) in [(EmbeddedStyles.files, "text/css; charset=utf-8"), (EmbeddedScripts.files, "text/javascript; charset=utf-8")] {
            for file in files {
                guard let data = Data(base64Encoded: file.base64) else { continue }
                let digest = SHA256.hash(data: data).prefix(6).map { String(format: "%02x", $0) }.joined()
                assets[file.name] = Asset(bytes: ByteBuffer(bytes: data), contentType: type, version: digest)
            }
        }
        return PageRenderer(libraries: libraries, assets: assets)
    }

    private init(libraries: [PersonLocale: MustacheLibrary], assets: [String: Asset]) {
        self.libraries = libraries
        self.assets = assets
    }

    /// `template` with each `{{t.KEY}}` (a plain variable tag naming a key of `words`) replaced by
    /// the key's text, HTML-escaped; other tags, and keys `words` lacks, are left to Mustache.
    static func withWords(_ template: String, _ words: [String: String]) -> String {
        template.replacing(/\{\{\s*t\.([A-Za-z0-9_]+)\s*\}\}/) { match in
            words[String(match.output.1)].map(escape) ?? String(match.output.0)
        }
    }

    /// HTML escaping of the five characters Mustache's HTML type escapes (`& < > " '`), byte by byte:
    /// they are ASCII, so no other character's UTF-8 holds their bytes. Text without any comes back
    /// as it is. Unlike Mustache's own (by grapheme cluster, which leaves a `<` followed by a
    /// combining mark as it is), every one is escaped; and it is many times faster, which a page of
    /// thousands of values (a national dashboard's grid) feels.
    static func escape(_ text: String) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count + 32)
        for byte in utf8 {
            switch byte {
            case 0x26: out.append(contentsOf: "&amp;".utf8)
            case 0x3C: out.append(contentsOf: "&lt;".utf8)
            case 0x3E: out.append(contentsOf: "&gt;".utf8)
            case 0x22: out.append(contentsOf: "&quot;".utf8)
            case 0x27: out.append(contentsOf: "&#39;".utf8)
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The content type every template names in its first line, put there when the pages load.
    struct HTMLBytes: MustacheContentType {
        static let name = "EscalatedHTML"

        func escapeText(_ text: String) -> String {
            PageRenderer.escape(text)
        }
    }

    struct MissingPage: Error, CustomStringConvertible {
        var name: String
        var description: String { "the page template web/pages/\(name).mustache is missing" }
    }

    /// `/static/NAME?v=VERSION`.
    func assetURL(_ name: String) -> String {
        "/static/\(name)?v=\(assets[name]?.version ?? "0")"
    }

    /// Renders `page` with `values` (the layout's values added) as an HTML response.
    func render(_ page: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        var all = values
        all["css"] = assetURL("app.css")
        all["js"] = assetURL("live.js")
        let locale: PersonLocale = (values["t"] as? [String: String])?["lang"] == "en" ? .en : .vi
        let html = libraries[locale]?.render(all, withTemplate: page) ?? "<!doctype html><title>escalated</title><p>page \(page) missing</p>"
        let fragments = values.values.compactMap { $0 as? HTMLFragment }
        guard !fragments.isEmpty else { return Self.html(html, status: status) }
        return Self.html(ByteBuffer(bytes: HTMLFragment.place(fragments, in: html)), status: status)
    }

    /// The headers every page carries: no script or style from anywhere but this origin and no
    /// inline script (CSP), never framed, never sniffed, never cached (pages show private data).
    static let securityHeaders: [(HTTPField.Name, String)] = [
        (.contentSecurityPolicy, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        (HTTPField.Name("X-Frame-Options")!, "DENY"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
        (HTTPField.Name("Referrer-Policy")!, "same-origin"),
    ]

    static func html(_ text: String, status: HTTPResponse.Status = .ok, extra: HTTPFields = [:]) -> Response {
        html(ByteBuffer(string: text), status: status, extra: extra)
    }

    static func html(_ body: ByteBuffer, status: HTTPResponse.Status = .ok, extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        for (name, value) in securityHeaders { headers[name] = value }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// A 303 to `location` (after a form: the browser then GETs it).
    static func redirect(_ location: String, cookies: [Cookie] = []) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        for (name, value) in securityHeaders { headers[name] = value }
        var response = Response(status: .seeOther, headers: headers)
        for cookie in cookies { response.setCookie(cookie) }
        return response
    }

    /// A static file, or nil.
    func asset(_ name: String) -> Response? {
        guard let asset = assets[name] else { return nil }
        var headers: HTTPFields = [.contentType: asset.contentType, .cacheControl: "public, max-age=86400"]
        for (name, value) in Self.securityHeaders { headers[name] = value }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.bytes))
    }
}
