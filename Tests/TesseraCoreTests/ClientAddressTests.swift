import Testing

@testable import TesseraCore

@Suite struct ClientAddressTests {
    @Test func onlyATrustedPeersForwardedForIsBelieved() throws {
        let trusted = try #require(TrustedProxies("127.0.0.1, 10.0.0.0/8 ::1"))
        #expect(trusted.contains("10.1.2.3") && trusted.contains("127.0.0.1") && trusted.contains("::1"))
        #expect(!trusted.contains("11.0.0.1") && !trusted.contains("::2") && !trusted.contains("not an address"))
        // An untrusted peer is the client, whatever it claims.
        #expect(trusted.client(peer: "203.0.113.9", forwardedFor: "198.51.100.1") == "203.0.113.9")
        // A trusted proxy: the rightmost address that is not a proxy of ours.
        #expect(trusted.client(peer: "10.0.0.5", forwardedFor: "192.0.2.7, 198.51.100.1, 10.0.0.9") == "198.51.100.1")
        #expect(trusted.client(peer: "10.0.0.5", forwardedFor: nil) == "10.0.0.5")
        // A malformed entry ends the walk: the last good address stands.
        #expect(trusted.client(peer: "10.0.0.5", forwardedFor: "192.0.2.7, junk, 10.0.0.9") == "10.0.0.9")
        #expect(TrustedProxies.none.client(peer: "10.0.0.5", forwardedFor: "192.0.2.7") == "10.0.0.5")
        #expect(TrustedProxies("10.0.0.0/33") == nil && TrustedProxies("nonsense") == nil)
        #expect(try #require(TrustedProxies("2001:db8::/32")).contains("2001:db8::1"))
    }
}

@Suite struct TruncationTests {
    @Test func truncationKeepsWholeCharactersWithinTheByteLimit() {
        #expect("short".truncatedUTF8(to: 512) == "short")
        #expect(String(repeating: "a", count: 600).truncatedUTF8(to: 512).utf8.count == 512)
        // "é" is 2 bytes, "😀" 4: a cut never splits one.
        let mixed = String(repeating: "é", count: 300)
        #expect(mixed.truncatedUTF8(to: 511).utf8.count == 510)
        #expect(String(repeating: "😀", count: 200).truncatedUTF8(to: 10) == "😀😀")
        #expect("".truncatedUTF8(to: 0) == "" && "abc".truncatedUTF8(to: 0) == "")
    }
}
