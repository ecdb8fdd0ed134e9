import EscalationCore
import EscalationStore
import Foundation
@testable import EscalationWeb
import Testing

@Suite("Web: list links, CSV fields, where to go after signing in")
struct ListLinksTests {
    let directory = WebFixtures.laoCai()

    func read(_ q: [String: String]) -> WebApp.ListQuery {
        WebApp.readListQuery(q, pageSize: 50, directory: directory, locale: .vi)
    }

    /// The query parameters as `WebApp.list` reads them: the raw query through `FormFields.parse`
    /// (`+` a space, `%2B` a plus, NFC, the first of a repeated name kept; unreadable: none).
    func parameters(_ queryString: String) -> [String: String] {
        (try? FormFields.parse(queryString).values) ?? [:]
    }

    /// A query's link, read back as the list reads a request.
    func roundTrip(_ form: [String: String]) -> (first: WebApp.ListQuery, second: WebApp.ListQuery, link: String) {
        let first = read(form)
        let link = WebApp.queryString(first)
        return (first, read(parameters(link)), link)
    }

    @Test("A browser's GET form is read: + a space, escapes decoded, Vietnamese in NFC")
    func browserQuery() {
        let query = read(parameters("state=&sector=land&q=ti%E1%BA%BFng+Vi%E1%BB%87t&since=01%2F12%2F2026&overdue=1"))
        #expect(query.errors.isEmpty)
        #expect(query.filter.words == "tiếng Việt")
        #expect(query.filter.sector == "land" && query.filter.state == nil && query.filter.overdue)
        #expect(query.form["since"] == "01/12/2026")
        let nfd = read(parameters("q=Vie%CC%A3%CC%82t+Nam"))
        #expect(Array(nfd.filter.words!.unicodeScalars) == Array("Vi\u{1EC7}t Nam".unicodeScalars), "NFD typed, NFC searched")
    }

    @Test("A value in a link: codes and dates as they are, anything else percent-encoded (UTF-8), and read back the same")
    func queryValues() {
        #expect(WebApp.queryEscape("LC-SAPA-01") == "LC-SAPA-01")
        #expect(WebApp.queryEscape("2026-12-01") == "2026-12-01")
        #expect(WebApp.queryEscape("a_b.c~d") == "a_b.c~d")
        #expect(WebApp.queryEscape("a b&c=d+e?f#g") == "a%20b%26c%3Dd%2Be%3Ff%23g")
        #expect(WebApp.queryEscape("Đất đai") == "%C4%90%E1%BA%A5t%20%C4%91ai")
        for value in ["Đất đai", "x&y=z", "100% + 1", "LC-SAPA-01"] {
            #expect(parameters("q=" + WebApp.queryEscape(value))["q"] == value, "\(value)")
        }
    }

    @Test("The link of a list is its form, in a fixed order, every value escaped")
    func exactLink() {
        let query = read(["q": "nước & điện = 50% #1 ?", "state": "routed", "sector": "land", "since": "01/12/2026", "overdue": "1",
                          "unit": "LC-SAPA-01", "area": "sa-pa"])
        let link = WebApp.queryString(query)
        #expect(link == "state=routed&unit=LC-SAPA-01&area=sa-pa&sector=land&overdue=1&since=01/12/2026&q=n%C6%B0%E1%BB%9Bc%20%26%20%C4%91i%E1%BB%87n%20%3D%2050%25%20%231%20%3F")
        #expect(WebApp.queryString(read(["view": "all"])) == "view=all")
        #expect(WebApp.queryString(read([:])) == "")
        #expect(WebApp.queryString(read(["state": "closed"])) == "state=closed", "a state implies view=all")
        #expect(WebApp.queryString(read(["view": "all"]), extra: [("after", "n.41")]) == "view=all&after=n.41")
    }

    @Test("Every value survives its link: &, =, %, #, ?, /, quotes, Vietnamese", arguments: [
        "nước & điện", "a=b", "50%", "#1", "đâu?", "A/B", "\"trích\" 'dẫn'", "Sở Văn hóa, Thể thao và Du lịch", "<b>đậm</b>", "%E1%BA%BF",
    ])
    func valuesSurvive(words: String) {
        let (first, second, link) = roundTrip(["q": words, "since": "2026-12-01", "sector": "culture-social", "overdue": "1"])
        #expect(first.errors.isEmpty)
        #expect(second.form == first.form, "link \(link)")
        #expect(second.filter == first.filter, "link \(link)")
        #expect(link.split(separator: "&").count == 4, "no & of a value is left raw: \(link)")
        #expect(link.split(separator: "&").allSatisfy { $0.filter { $0 == "=" }.count == 1 }, "no = of a value is left raw: \(link)")
        #expect(!link.contains(" ") && !link.contains("#"))
    }

    @Test("The views and refused values survive their link too")
    func viewsSurvive() {
        for form in [["view": "all"], ["state": "resolved"], ["view": "all", "area": "bac-ha"], ["unit": "không có"], ["since": "32/01/2026"]] {
            let (first, second, link) = roundTrip(form)
            #expect(second.view == first.view, "\(form) → \(link)")
            #expect(second.form == first.form, "\(form) → \(link)")
            #expect(second.errors == first.errors, "\(form) → \(link)")
            #expect(second.filter == first.filter, "\(form) → \(link)")
        }
    }

    /// A browser sends a typed `+` as `%2B` and a space as `+`; `queryString` writes `%2B` too.
    /// (Found failing while `readListQuery` replaced `+` after Hummingbird had decoded `%2B`.)
    @Test("A + typed in the words survives (the browser sends %2B)", arguments: ["+84 912 345 678", "1+1", "F0+F1"])
    func plusSurvives(words: String) {
        #expect(read(parameters("q=" + words.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)).filter.words == words,
                "the browser's own request")
        let (first, second, link) = roundTrip(["q": words])
        #expect(link.contains("%2B"))
        #expect(second.filter.words == first.filter.words, "link \(link)")
    }

    // MARK: CSV

    @Test("CSV: plain values are left alone")
    func csvPlain() {
        #expect(WebApp.csvField("Xã mẫu 01 (Huyện Bát Xát)") == "Xã mẫu 01 (Huyện Bát Xát)")
        #expect(WebApp.csvField("") == "")
        #expect(WebApp.csvField("12") == "12")
        #expect(WebApp.csvField("a=b") == "a=b", "only a leading = is a formula")
    }

    @Test("CSV: commas, quotes and line breaks are quoted, quotes doubled")
    func csvQuoted() {
        #expect(WebApp.csvField("Tài chính, ngân sách") == "\"Tài chính, ngân sách\"")
        #expect(WebApp.csvField("Cầu \"treo\" hỏng") == "\"Cầu \"\"treo\"\" hỏng\"")
        #expect(WebApp.csvField("dòng 1\ndòng 2") == "\"dòng 1\ndòng 2\"")
        #expect(WebApp.csvField("\"") == "\"\"\"\"")
    }

    /// In Swift "\r\n" is one Character, equal to neither "\r" nor "\n": a check by Character
    /// misses a CRLF (the row splits in two) and a leading CRLF (not prefixed, where a leading CR
    /// is). A title reaches the CSV with CRLF when it came in through SQL (sql/001_init.sql
    /// checks only its length).
    @Test("CSV: a CRLF line break is quoted too")
    func csvCRLF() {
        #expect(WebApp.csvField("dòng 1\r\ndòng 2") == "\"dòng 1\r\ndòng 2\"")
        #expect(WebApp.csvField("\r\n=1") == "\"'\r\n=1\"", "a leading line break is prefixed and quoted, as a leading CR is")
    }

    @Test("CSV: a leading =, +, -, @ (and tab, CR) is prefixed with ' so that no formula runs", arguments: [
        ("=HYPERLINK(\"http://evil.example\")", "\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        ("=1+2", "'=1+2"), ("+84 912", "'+84 912"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"), ("=1,2", "\"'=1,2\""), ("\r=1", "\"'\r=1\""),
    ])
    func csvFormula(value: String, expected: String) {
        #expect(WebApp.csvField(value) == expected)
    }

    // MARK: After signing in

    @Test("Paths of this site are kept", arguments: ["/issues?state=routed", "/issues", "/issues/42", "/admin/accounts", "/issues?q=n%C6%B0%E1%BB%9Bc&view=all"])
    func nextKept(path: String) {
        #expect(WebApp.safeNext(path) == path)
    }

    @Test("Other hosts, odd schemes and header splitting go to /issues", arguments: [
        "//evil.example", "//evil.example/issues", "https://evil.example", "http://evil.example/", "/\\evil", "/\\/evil.example",
        "javascript:alert(1)", "evil.example", "", "issues", "/issues\r\nSet-Cookie: a=b", "/issues\nLocation: //evil.example", "/issues\r",
    ])
    func nextRefused(text: String) {
        #expect(WebApp.safeNext(text) == "/issues", "\(text.debugDescription)")
    }

    @Test("No next: /issues")
    func nextAbsent() {
        #expect(WebApp.safeNext(nil) == "/issues")
    }

    /// Browsers remove every tab, LF and CR from a URL before reading it (WHATWG URL standard,
    /// "remove all ASCII tab or newline"), so `Location: /<TAB>/evil.example` goes to
    /// `//evil.example`, another host; `/sign-in?next=/%09/evil.example` would carry one there.
    @Test("A tab cannot smuggle another host in (browsers drop tabs from URLs)", arguments: ["/\t/evil.example", "/\t\\evil.example", "\t//evil.example"])
    func nextTab(text: String) {
        #expect(WebApp.safeNext(text) == "/issues", "\(text.debugDescription) is kept: a browser reads it as //evil.example")
    }
}
