import EscalationCore
import Foundation
@testable import EscalationWeb
import Testing

@Suite("Web: the words of the pages")
struct WebTextTests {
    @Test("Vietnamese and English have the same keys, every value non-empty and in NFC")
    func sameKeys() {
        #expect(Set(WebText.vi.keys) == Set(WebText.en.keys), "only in vi: \(Set(WebText.vi.keys).subtracting(WebText.en.keys)), only in en: \(Set(WebText.en.keys).subtracting(WebText.vi.keys))")
        for (key, value) in WebText.vi.merging(WebText.en.map { ("en." + $0.key, $0.value) }, uniquingKeysWith: { a, _ in a }) {
            #expect(!value.isEmpty, "\(key) is empty")
            #expect(Array(value.unicodeScalars) == Array(value.precomposedStringWithCanonicalMapping.unicodeScalars), "\(key) is not NFC")
        }
    }
}
