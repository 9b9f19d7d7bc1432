import Crypto
import Testing

@testable import TesseraCore

@Suite struct APIKeyTests {
    @Test func generatedKeysHaveTheDocumentedShape() {
        let key = APIKey.generate()
        let parts = key.plaintext.split(separator: "_")
        #expect(parts.count == 3)
        #expect(parts[0] == "tsk")
        #expect(parts[1].count == 12)
        #expect(parts[2].count == 43 + 6)
        #expect(key.displayPrefix == "tsk_\(key.prefix)")
    }

    @Test func parseAcceptsAGeneratedKeyAndRefusesATamperedOne() throws {
        let key = APIKey.generate()
        let parsed = try #require(APIKey.parse(key.plaintext))
        #expect(parsed.plaintext == key.plaintext)
        #expect(parsed.digest == key.digest)
        var chars = Array(key.plaintext)
        let i = chars.count - 10  // inside the secret
        chars[i] = chars[i] == "a" ? "b" : "a"
        #expect(APIKey.parse(String(chars)) == nil)
        #expect(APIKey.parse("tsk_short_x") == nil)
        #expect(APIKey.parse("xyz_" + key.plaintext.dropFirst(4)) == nil)
    }

    /// Contiguous bytes (a header's) are checked in place; any other collection of bytes gives the same answer.
    @Test func parseReadsContiguousAndOtherBytesAlike() throws {
        let key = APIKey.generate()
        let header = "Bearer \(key.plaintext)"
        let contiguous = try #require(APIKey.parse(utf8: header.utf8.dropFirst(7)))
        let other = try #require(APIKey.parse(utf8: key.plaintext.utf8.lazy.map { $0 }))
        #expect(contiguous.digest == key.digest && other.digest == key.digest)
        #expect(contiguous.prefix == key.prefix && other.plaintext == key.plaintext)
        // Every checksum digit matters: each other digit in the last place is refused.
        for replacement in Base62.alphabet where replacement != key.plaintext.utf8.last {
            #expect(APIKey.parse(utf8: key.plaintext.utf8.dropLast() + [replacement]) == nil)
        }
    }

    @Test func keysAreUnique() {
        let keys = Set((0..<1000).map { _ in APIKey.generate().plaintext })
        #expect(keys.count == 1000)
    }

    @Test func digestIsSHA256OfTheWholeKey() {
        let key = APIKey.generate()
        #expect(key.digest == Array(SHA256.hash(data: Array(key.plaintext.utf8))))
    }

    @Test func descriptionHidesTheSecret() {
        let key = APIKey.generate()
        #expect("\(key)" == "tsk_\(key.prefix)_***")
        #expect(!"\(key)".contains(key.plaintext.suffix(20)))
    }

    @Test func crc32MatchesZlib() {
        #expect(CRC32.checksum(Array("123456789".utf8)[...]) == 0xCBF4_3926)
    }

    @Test func constantTimeEquality() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
    }
}
