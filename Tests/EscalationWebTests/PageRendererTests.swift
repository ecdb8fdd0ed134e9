import EscalationCore
@testable import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
@testable import EscalationWeb
import Testing

@Suite("Web: pages, escaping, headers, static files")
struct PageRendererTests {
    let renderer: PageRenderer

    init() throws {
        renderer = try PageRenderer.bundled()
    }

    // MARK: Loading

    @Test("bundled() has every page, and each renders a whole document with its layout")
    func everyPage() async throws {
        for page in PageRenderer.pages {
            let html = try await WebFixtures.body(renderer.render(page, ["t": WebText.vi, "page_title": "Trang"]))
            #expect(!html.contains("page \(page) missing"), "\(page) did not render")
            #expect(html.hasPrefix("<!doctype html>"), "\(page) lacks the head partial")
            #expect(html.contains("</html>"), "\(page) lacks the foot partial")
            #expect(html.contains(#"<html lang="vi">"#))
        }
    }

    @Test("The words of a page are put in when the pages load, escaped; other tags are left to Mustache")
    func wordsAtLoad() async throws {
        let words = ["x": "<b>\"Đ'&", "y": "Gửi"]
        #expect(PageRenderer.withWords("a {{t.x}} b {{ t.y }}.", words) == "a &lt;b&gt;&quot;Đ&#39;&amp; b Gửi.")
        #expect(PageRenderer.withWords("{{#t.x}}1{{/t.x}}{{^t.y}}2{{/t.y}}{{t.missing}}{{tx}}{{name}}", words)
                == "{{#t.x}}1{{/t.x}}{{^t.y}}2{{/t.y}}{{t.missing}}{{tx}}{{name}}")
        let english = try await WebFixtures.body(renderer.render("sign-in", ["t": WebText.en, "page_title": "Sign in"]))
        let vietnamese = try await WebFixtures.body(renderer.render("sign-in", ["t": WebText.vi, "page_title": "Đăng nhập"]))
        #expect(english.contains(#"<html lang="en">"#) && english.contains(WebText.en["password"]!) && !english.contains(WebText.vi["password"]!))
        #expect(vietnamese.contains(WebText.vi["password"]!) && !vietnamese.contains(WebText.en["password"]!))
        #expect(!english.contains("{{") && !vietnamese.contains("{{"))
    }

    @Test("Every page the renderer needs has its file in web/pages")
    func filesOfPages() throws {
        let files = Set(try WebFixtures.repositoryFiles(in: "web/pages", suffix: ".mustache").map { String($0.dropLast(".mustache".count)) })
        #expect(Set(PageRenderer.pages).isSubset(of: files), "missing: \(Set(PageRenderer.pages).subtracting(files))")
        #expect(files.contains("head") && files.contains("foot"))
    }

    @Test("No template in web/pages uses an unescaped form ({{{ }}}, {{& }}) or changes the delimiters")
    func noUnescapedTags() throws {
        let files = try WebFixtures.repositoryFiles(in: "web/pages", suffix: ".mustache")
        #expect(files.count >= PageRenderer.pages.count)
        for file in files {
            let text = try WebFixtures.repositoryFile("web/pages/" + file)
            // Whitespace is allowed after {{ by Mustache: `{{ & name}}` is unescaped too.
            let squeezed = text.replacingOccurrences(of: #"\{\{\s+"#, with: "{{", options: .regularExpression)
            #expect(!squeezed.contains("{{{"), "\(file) uses {{{...}}}")
            #expect(!squeezed.contains("{{&"), "\(file) uses {{&...}}")
            #expect(!squeezed.contains("{{="), "\(file) changes the delimiters (which could hide an unescaped tag)")
        }
    }

    // MARK: Fragments

    @Test("An HTML fragment writes its literals as they are and escapes every value; its token, on a page, becomes its HTML")
    func fragmentEscapesAndPlaces() async throws {
        var fragment = HTMLFragment()
        fragment.markup("<a class=\"cell\" title=\"")
        fragment.text(WebFixtures.attribute)
        fragment.markup("\">")
        fragment.text(WebFixtures.script)
        fragment.number(42)
        fragment.markup("</a>")
        #expect(fragment.html == "<a class=\"cell\" title=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\">&lt;script&gt;alert(1)&lt;/script&gt;42</a>")
        // The message page's `{{text}}` renders the token, and render() puts the fragment there; the
        // heading (escaped text that merely starts like a token) is left alone.
        let html = try await WebFixtures.body(renderer.render("message", ["t": WebText.vi, "page_title": "x", "heading": "escalated-fragment-", "text": fragment]))
        #expect(html.contains(fragment.html), "the fragment is in place")
        #expect(!html.contains(fragment.token), "no token is left")
        #expect(html.contains("escalated-fragment-"), "other text stays")
        #expect(HTMLFragment().token != HTMLFragment().token, "a token is new for each fragment")
        // Bytes: the first occurrence only; a page without the token is unchanged.
        var other = HTMLFragment()
        other.markup("<b>")
        #expect(String(decoding: HTMLFragment.place([other], in: "a \(other.token) b \(other.token)"), as: UTF8.self) == "a <b> b \(other.token)")
        #expect(String(decoding: HTMLFragment.place([other], in: "Đà Lạt"), as: UTF8.self) == "Đà Lạt")
        #expect(HTMLFragment.firstIndex(of: Array("ab".utf8), in: Array("aab".utf8)) == 1)
        #expect(HTMLFragment.firstIndex(of: Array("abc".utf8), in: Array("ab".utf8)) == nil)
    }

    // MARK: Escaping

    @Test("Hostile values are escaped on the message page, one by one", arguments: [
        (WebFixtures.script, "&lt;script&gt;alert(1)&lt;/script&gt;"),
        (WebFixtures.attribute, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
        ("O'Brien", "O&#39;Brien"),
        ("Sở Xây dựng & Sở Tài chính", "Sở Xây dựng &amp; Sở Tài chính"),
        // A `<` and a combining mark are one grapheme cluster, which Mustache's own escaping leaves as it is.
        ("x<\u{0338}img src=x onerror=alert(1)>", "x&lt;\u{0338}img src=x onerror=alert(1)&gt;"),
    ])
    func messageEscapes(raw: String, escaped: String) async throws {
        let html = try await WebFixtures.body(renderer.render("message", ["t": WebText.vi, "page_title": raw, "heading": raw, "text": raw]))
        #expect(!html.contains(raw), "the raw value is in the page")
        #expect(html.components(separatedBy: escaped).count - 1 == 3, "page_title, heading and text each escaped once")
    }

    @Test("The escaping: the five characters, byte by byte; anything else, Vietnamese included, as it is")
    func escapeBytes() {
        #expect(PageRenderer.escape("Sở & <b>\"Đ'</b>") == "Sở &amp; &lt;b&gt;&quot;Đ&#39;&lt;/b&gt;")
        #expect(PageRenderer.escape("Xã mẫu 0001: 3 đang mở · 1!") == "Xã mẫu 0001: 3 đang mở · 1!")
        #expect(PageRenderer.escape("") == "" && PageRenderer.escape("&&") == "&amp;&amp;")
        #expect(PageRenderer.escape("<\u{0338}") == "&lt;\u{0338}")
    }

    @Test("The list escapes hostile titles, unit names and filter values, in text and in attributes")
    func listEscapes() async throws {
        var directory = WebFixtures.laoCai()
        directory.units[0].name = WebFixtures.hostile
        let issues = [WebFixtures.issue(id: 1, unit: directory.units[0].code, title: WebFixtures.hostile, dueAt: nil)]
        var values = ListPage.values(directory: directory, issues: issues, query: ["q": WebFixtures.hostile, "unit": WebFixtures.hostile])
        values["me"] = ["name": WebFixtures.hostile, "scope": "supervisor:vp-ubnd"]
        let html = try await WebFixtures.body(renderer.render("issues", values))
        for piece in WebFixtures.rawPieces { #expect(!html.contains(piece), "raw \(piece)") }
        // The title in its link, the words in the form's field (an attribute), the unknown unit
        // refused; and the unit's name in its row and in the filter's options, the person's name.
        #expect(html.contains(#"<a href="/issues/1">\#(WebFixtures.hostileEscaped)</a>"#))
        #expect(html.contains(#"<input name="q" type="search" value="\#(WebFixtures.hostileEscaped)">"#))
        #expect(html.contains(#"<span class="field-error">Giá trị không hợp lệ.</span>"#), "the unknown unit is refused")
        #expect(html.components(separatedBy: WebFixtures.hostileEscaped).count - 1 == 5)
    }

    @Test("The sign-in form escapes the address to go back to and the e-mail typed, inside attributes")
    func signInEscapes() async throws {
        let html = try await WebFixtures.body(renderer.render("sign-in", ["t": WebText.vi, "page_title": "Đăng nhập", "next": WebFixtures.attribute,
                                                                           "email": WebFixtures.hostile, "csrf": "token"]))
        for piece in WebFixtures.rawPieces { #expect(!html.contains(piece), "raw \(piece)") }
        #expect(html.contains(#"<input type="hidden" name="next" value="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">"#))
        #expect(html.contains(#"value="\#(WebFixtures.hostileEscaped)""#))
    }

    /// Every `{{name}}` of every page (and of its partials), given the hostile value, with the
    /// sections around them opened or closed in turn: the value is never written raw.
    @Test("Every variable of every page is escaped", arguments: PageRenderer.pages)
    func everyVariableEscapes(page: String) async throws {
        let tags = try TemplateTags(page: page)
        #expect(!tags.variables.isEmpty)
        var renders = [tags.values(open: Set(tags.sections)), tags.values(open: [])]
        for section in tags.sections {
            renders.append(tags.values(open: Set(tags.sections).subtracting([section])))
            renders.append(tags.values(open: [section]))
        }
        var escapedSeen = 0
        for values in renders {
            let html = try await WebFixtures.body(renderer.render(page, values))
            for piece in WebFixtures.rawPieces where html.contains(piece) {
                Issue.record("\(page): the raw piece \(piece) is in the page")
            }
            escapedSeen = max(escapedSeen, html.components(separatedBy: WebFixtures.hostileEscaped).count - 1)
        }
        #expect(escapedSeen >= 3, "\(page): the hostile value should show (escaped) in several places")
    }

    // MARK: Headers

    /// The security headers of every answer, and what each part of the CSP allows.
    static func checkSecurityHeaders(_ response: Response, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let csp = response.headers[.contentSecurityPolicy] ?? ""
        let directives = Dictionary(csp.split(separator: ";").map { part -> (String, String) in
            let words = part.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
            return (String(words.first ?? ""), words.count > 1 ? String(words[1]) : "")
        }, uniquingKeysWith: { a, _ in a })
        #expect(directives["script-src"] == "'self'", "\(what): script-src is \(directives["script-src"] ?? "absent")", sourceLocation: sourceLocation)
        #expect(directives["default-src"] == "'none'", "\(what): default-src", sourceLocation: sourceLocation)
        #expect(directives["frame-ancestors"] == "'none'", "\(what): frame-ancestors", sourceLocation: sourceLocation)
        #expect(directives["base-uri"] == "'none'", "\(what): base-uri", sourceLocation: sourceLocation)
        #expect(directives["form-action"] == "'self'", "\(what): form-action", sourceLocation: sourceLocation)
        #expect(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "\(what): \(csp)", sourceLocation: sourceLocation)
        #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY", "\(what)", sourceLocation: sourceLocation)
        #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(what)", sourceLocation: sourceLocation)
        #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin", "\(what)", sourceLocation: sourceLocation)
    }

    @Test("Every page, refusal and redirect carries the security headers and is never cached")
    func pageHeaders() {
        var responses: [(String, Response)] = PageRenderer.pages.map { ($0, renderer.render($0, ["t": WebText.vi])) }
        responses.append(("400 list", renderer.render("issues", ["t": WebText.vi], status: .badRequest)))
        responses.append(("unknown page", renderer.render("no-such-page", [:], status: .notFound)))
        responses.append(("html", PageRenderer.html("<p>x</p>", status: .forbidden)))
        responses.append(("redirect", PageRenderer.redirect("/issues")))
        for (what, response) in responses {
            Self.checkSecurityHeaders(response, what)
            #expect(response.headers[.cacheControl] == "no-store", "\(what)")
        }
        for (what, response) in responses.dropLast() {
            #expect(response.headers[.contentType] == "text/html; charset=utf-8", "\(what)")
        }
        #expect(responses[1].1.status == .ok && responses[PageRenderer.pages.count].1.status == .badRequest)
        let redirect = PageRenderer.redirect("/issues?state=routed")
        #expect(redirect.status == .seeOther && redirect.headers[.location] == "/issues?state=routed")
    }

    // MARK: Static files

    @Test("app.css and live.js are served with their type, the security headers and their bytes")
    func assets() async throws {
        for (name, type) in [("app.css", "text/css; charset=utf-8"), ("live.js", "text/javascript; charset=utf-8")] {
            let response = try #require(renderer.asset(name), "\(name) is not served")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == type)
            #expect(response.headers[.cacheControl]?.hasPrefix("public, max-age=") == true)
            Self.checkSecurityHeaders(response, name)
            let served = try await WebFixtures.body(response)
            #expect(served == (try WebFixtures.repositoryFile("web/static/" + name)), "\(name) differs from web/static/\(name)")
        }
        #expect(renderer.asset("nope.css") == nil)
        #expect(renderer.asset("../Package.swift") == nil)
        #expect(renderer.asset("sign-in.mustache") == nil, "templates are not static files")
    }

    @Test("An asset's URL carries a version made from its bytes, and pages link to that URL")
    func assetVersions() async throws {
        for name in ["app.css", "live.js"] {
            let asset = try #require(renderer.assets[name])
            let text = try WebFixtures.repositoryFile("web/static/" + name)
            // The first 6 bytes of the SHA-256 of the bytes, in hex: other bytes, another version.
            #expect(asset.version == String(DirectoryStore.sha256(text).prefix(12)))
            #expect(asset.version != String(DirectoryStore.sha256(text + "\n").prefix(12)))
            #expect(asset.version.count == 12 && asset.version.allSatisfy(\.isHexDigit))
            #expect(renderer.assetURL(name) == "/static/\(name)?v=\(asset.version)")
        }
        #expect(renderer.assets["app.css"]?.version != renderer.assets["live.js"]?.version)
        let html = try await WebFixtures.body(renderer.render("message", ["t": WebText.vi]))
        #expect(html.contains(#"<link rel="stylesheet" href="\#(renderer.assetURL("app.css"))">"#))
        #expect(html.contains(#"<script src="\#(renderer.assetURL("live.js"))" defer></script>"#))
        // The only script is the file: no inline script (the CSP would block it anyway).
        #expect(html.components(separatedBy: "<script").count == 2)
    }

    // MARK: Weight

    @Test("A list of 50 issues with its CSS and script weighs at most 60 KB")
    func pageWeight() async throws {
        let directory = WebFixtures.laoCai()
        let html = try await WebFixtures.body(renderer.render("issues", ListPage.values(directory: directory, issues: ListPage.fiftyIssues(directory))))
        #expect(html.components(separatedBy: "<tr class=").count - 1 == 50, "the 50 rows are in the page")
        let css = renderer.assets["app.css"]!.bytes.readableBytes, js = renderer.assets["live.js"]!.bytes.readableBytes
        let total = html.utf8.count + css + js
        #expect(total <= 60 * 1024, "page \(html.utf8.count) B + CSS \(css) B + JS \(js) B = \(total) B")
    }
}

/// The values `WebApp.list` gives the `issues` page (Sources/EscalationWeb/IssueListPage.swift),
/// built the same way without a database: `WebApp.layout`'s values for a supervisor, the rows from
/// `WebApp.row`, the filter form from `WebApp.readListQuery`.
enum ListPage {
    static func values(directory: Directory, issues: [IssueRecord], query parameters: [String: String] = [:], locale: PersonLocale = .vi,
                       now: Date = Date(timeIntervalSince1970: 1_796_100_000)) -> [String: Any] {
        let t = WebText.strings(locale)
        let wording = Wording(locale: locale, directory: directory)
        let policy = EscalationPolicy(directory: directory, now: now)
        var query = WebApp.readListQuery(parameters, pageSize: 50, directory: directory, locale: locale)
        let title = t["all_issues"]!
        // WebApp.layout(viewer, ...) for a supervisor.
        var values: [String: Any] = ["t": t, "page_title": title]
        values["me"] = ["name": "Nguyễn Thị Thu Hà", "scope": "supervisor:vp-ubnd"]
        values["nav"] = [["href": "/issues", "label": t["all_issues"]!]]
        values["csrf"] = "v1.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGhIjKlMnOpQrStUvWxYz01"
        // WebApp.list.
        values["heading"] = title
        values["rows"] = issues.map { WebApp.row($0, wording: wording, policy: policy, now: now) }
        values["empty"] = issues.isEmpty
        values["live_scope"] = "list"
        values["last_event"] = "123456"
        if let last = issues.last {
            values["next_href"] = "/issues?" + WebApp.queryString(query, extra: [("after", "d.1796200000000000.\(last.id)")])
        }
        values["csv_href"] = "/issues.csv?" + WebApp.queryString(query)
        values["can_report"] = false
        if !query.errors.isEmpty { values["error"] = t["fix_below"]! }
        values["errors"] = query.errors
        query.form["view"] = query.view
        values["f"] = query.form
        values["view_all"] = query.view == "all"
        values["states"] = IssueState.allCases.map { ["value": $0.rawValue, "label": wording.state($0), "selected": query.form["state"] == $0.rawValue] }
        values["sectors"] = directory.sectors.map { ["value": $0.code, "label": wording.names.sector($0.code, locale: locale), "selected": query.form["sector"] == $0.code] }
        values["areas"] = directory.areas.map { ["value": $0.code, "label": $0.name, "selected": query.form["area"] == $0.code] }
        values["units"] = directory.units.map { ["value": $0.code, "label": $0.name, "selected": query.form["unit"] == $0.code] }
        values["show_unit_filter"] = true
        return values
    }

    static let titles = [
        "Đường giao thông liên thôn bị sạt lở sau mưa lớn, xe cộ không qua lại được",
        "Chậm cấp giấy chứng nhận quyền sử dụng đất cho các hộ gia đình tái định cư",
        "Trạm y tế xã thiếu thuốc điều trị bệnh tăng huyết áp và đái tháo đường",
        "Cổng dịch vụ công trực tuyến báo lỗi khi nộp hồ sơ đăng ký hộ kinh doanh",
        "Điểm trường tiểu học ở bản xa thiếu phòng học, học sinh phải học nhờ nhà văn hóa",
        "Bãi rác tự phát gần suối đầu nguồn gây ô nhiễm nguồn nước sinh hoạt",
        "Chưa nhận được kinh phí hỗ trợ giống lúa vụ xuân theo nghị quyết của tỉnh",
        "Vướng mắc thủ tục đăng ký khai sinh cho trẻ em sinh tại nhà",
        "Cầu treo qua sông bị hư hỏng nặng, người dân và học sinh đi lại nguy hiểm",
        "Thiếu giáo viên tiếng Anh và tin học ở trường trung học cơ sở của xã",
    ]

    /// 50 issues of the sample's units and sectors: running deadlines, overdue ones, urgent ones,
    /// escalated ones, as a supervisor's list shows them.
    static func fiftyIssues(_ directory: Directory, now: Date = Date(timeIntervalSince1970: 1_796_100_000)) -> [IssueRecord] {
        (0..<50).map { n in
            let unit = directory.units[(n * 7) % directory.units.count].code
            let sector = directory.sectors[n % directory.sectors.count].code
            let due = now.addingTimeInterval(Double((n % 5) - 2) * 86_400 + Double(n * 977))
            return WebFixtures.issue(id: Int64(1000 + n), unit: unit, sector: sector, severity: n % 6 == 0 ? .urgent : .normal,
                                     title: titles[n % titles.count], state: n % 3 == 0 ? .acknowledged : .routed,
                                     createdAt: now.addingTimeInterval(-Double(n) * 7200), dueAt: due, level: n % 4)
        }
    }
}

/// The tags of a page and its partials, read from web/pages: the names it prints and the sections
/// it opens; and values for them, every printed name given ``WebFixtures/hostile``.
struct TemplateTags {
    var variables: Set<String> = []
    var sections: [String] = []

    init(page: String) throws {
        var seen = Set<String>(), pending = [page]
        var sections = Set<String>()
        let pattern = try NSRegularExpression(pattern: #"\{\{\s*([#^/>!&{]?)\s*([^}\s]+)\s*\}?\}\}"#)
        while let name = pending.popLast() {
            guard seen.insert(name).inserted else { continue }
            let text = try WebFixtures.repositoryFile("web/pages/\(name).mustache")
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let sigil = String(text[Range(match.range(at: 1), in: text)!])
                let tag = String(text[Range(match.range(at: 2), in: text)!])
                switch sigil {
                case ">": pending.append(tag)
                case "#", "^": sections.insert(tag)
                case "": variables.insert(tag)
                default: break
                }
            }
        }
        // The layout's asset URLs are the renderer's own.
        variables.subtract(["css", "js"])
        self.sections = sections.subtracting(variables).sorted()
    }

    /// Every variable hostile; the sections in `open` true, the others false.
    func values(open: Set<String>) -> [String: Any] {
        var values: [String: Any] = [:]
        func set(_ path: [Substring], _ value: Any, in dictionary: inout [String: Any]) {
            let key = String(path[0])
            if path.count == 1 {
                // A dictionary holds the names below it; a printed value is truthy already.
                if dictionary[key] is [String: Any] || (value is Bool && dictionary[key] != nil) { return }
                dictionary[key] = value
                return
            }
            var inner = dictionary[key] as? [String: Any] ?? [:]
            set(Array(path.dropFirst()), value, in: &inner)
            dictionary[key] = inner
        }
        // `{{.}}` (the current item of a list) names no key: it is filled through its section.
        for name in variables where !name.split(separator: ".").isEmpty { set(name.split(separator: "."), WebFixtures.hostile, in: &values) }
        for name in sections where !name.split(separator: ".").isEmpty { set(name.split(separator: "."), open.contains(name), in: &values) }
        return values
    }
}
