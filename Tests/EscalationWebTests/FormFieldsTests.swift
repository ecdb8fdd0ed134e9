import Foundation
@testable import EscalationWeb
import Testing

@Suite("Web: reading posted forms")
struct FormFieldsTests {
    @Test("+ is a space, %2B a plus, percent escapes are decoded, in names and values")
    func plusAndEscapes() throws {
        let fields = try FormFields.parse("title=v%E1%BB%A1+%E1%BB%91ng&sum=1%2B1%3D2&amp=a%26b&eq=x%3Dy&pct=50%25&my+name=ok&empty=&bare")
        #expect(fields["title"] == "vỡ ống")
        #expect(fields["sum"] == "1+1=2")
        #expect(fields["amp"] == "a&b")
        #expect(fields["eq"] == "x=y")
        #expect(fields["pct"] == "50%")
        #expect(fields["my name"] == "ok")
        #expect(fields["empty"] == "")
        #expect(fields["bare"] == "")
        #expect(fields["missing"] == nil)
    }

    @Test("A value may hold = after the first one")
    func equalsInValue() throws {
        #expect(try FormFields.parse("csrf=v1.abc==")["csrf"] == "v1.abc==")
    }

    @Test("UTF-8 Vietnamese is read")
    func vietnamese() throws {
        let fields = try FormFields.parse("q=ti%E1%BA%BFng+Vi%E1%BB%87t&unit=X%C3%A3+m%E1%BA%ABu+01")
        #expect(fields["q"] == "tiếng Việt")
        #expect(fields["unit"] == "Xã mẫu 01")
    }

    @Test("NFD input comes out NFC")
    func nfc() throws {
        // "Việt" decomposed: V i e U+0323 (dot below) U+0302 (circumflex) t.
        let decomposed = "Vie\u{0323}\u{0302}t"
        let encoded = decomposed.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        #expect(encoded == "Vie%CC%A3%CC%82t")
        let value = try #require(try FormFields.parse("q=" + encoded)["q"])
        #expect(Array(value.unicodeScalars) == Array("Vi\u{1EC7}t".unicodeScalars), "got \(value.unicodeScalars.map { String($0.value, radix: 16) })")
    }

    @Test("The first of a repeated name wins")
    func firstWins() throws {
        let fields = try FormFields.parse("state=routed&state=closed&csrf=good&csrf=evil")
        #expect(fields["state"] == "routed")
        #expect(fields["csrf"] == "good")
    }

    @Test("A malformed escape or invalid UTF-8 is refused", arguments: [
        "a=%E1%BA", "a=%zz", "a=%", "a=%4", "a=ok&b=%E1%BA%", "%zz=1", "a=%FF", "a=%C3%28",
    ])
    func malformed(body: String) {
        #expect(throws: FormFields.Unreadable.self, "\(body)") { try FormFields.parse(body) }
    }

    @Test("An empty body is an empty form; empty pairs are skipped")
    func empty() throws {
        #expect(try FormFields.parse("").values.isEmpty)
        #expect(try FormFields.parse("&&").values.isEmpty)
        #expect(try FormFields.parse("a=1&&b=2").values == ["a": "1", "b": "2"])
    }

    @Test("text(_:) trims and treats blank as absent")
    func text() throws {
        let fields = try FormFields.parse("a=++x+y++&b=+++&c=%0A")
        #expect(fields.text("a") == "x y")
        #expect(fields.text("b") == nil)
        #expect(fields.text("c") == nil)
        #expect(fields.text("d") == nil)
    }
}
