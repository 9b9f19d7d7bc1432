import Testing

@testable import TesseraCore

@Suite struct EmailAddressTests {
    @Test func addressesAreNormalisedAndControlCharactersRefused() throws {
        #expect(try EmailAddress.validated(" Ada@Example.TEST ") == "ada@example.test")
        for bad in [
            "ada@example.test\u{0}", "ada\r\nBcc: eve@x.test@example.test", "a\u{7}@example.test", "a@b", "@b.c",
            "a b@c.d",
        ] {
            #expect(throws: TesseraError.self, "\(bad.debugDescription)") { try EmailAddress.validated(bad) }
        }
        #expect(throws: TesseraError.self) { try EmailAddress.validated("ada@exa\u{85}mple.test") }
    }
}
