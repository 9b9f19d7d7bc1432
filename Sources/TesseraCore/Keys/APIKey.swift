import Crypto

/// An API key `tsk_<prefix>_<secret><checksum>`: a 12-character base62 prefix for look-up and display,
/// a 43-character base62 secret (256 bits) and a 6-character base62 CRC-32 so scanners can recognise
/// a leaked key without a database. Only the SHA-256 of the whole key is ever stored.
public struct APIKey: Sendable, CustomStringConvertible {
    public static let scheme = "tsk"
    static let prefixLength = 12
    static let secretLength = 43
    static let checksumLength = 6

    public let prefix: String
    /// Secret plus checksum: the part after the second underscore.
    let secretPart: String
    /// SHA-256 of the whole key, the only form the server keeps: hashed once, from the bytes parsed or made.
    public let digest: [UInt8]

    init(prefix: String, secretPart: String) {
        self.prefix = prefix
        self.secretPart = secretPart
        self.digest = SHA256.hash(data: Array("\(Self.scheme)_\(prefix)_\(secretPart)".utf8)).bytes
    }

    private init(prefix: String, secretPart: String, digest: [UInt8]) {
        (self.prefix, self.secretPart, self.digest) = (prefix, secretPart, digest)
    }

    /// The whole key, to be shown to its owner once and never stored or logged.
    public var plaintext: String { "\(Self.scheme)_\(prefix)_\(secretPart)" }

    /// What may be shown in listings and logs.
    public var displayPrefix: String { "\(Self.scheme)_\(prefix)" }

    public var description: String { "\(displayPrefix)_***" }

    /// A fresh key from the system's secure random source.
    public static func generate() -> APIKey {
        var rng = SystemRandomNumberGenerator()
        let prefix = Base62.random(count: prefixLength, using: &rng)
        let secret = Base62.random(count: secretLength, using: &rng)
        let checksum = Self.checksum(prefix: prefix, secret: secret)
        return APIKey(prefix: prefix, secretPart: secret + checksum)
    }

    /// Parses a presented key; nil when the shape or the checksum is wrong (no database needed).
    /// Works on the UTF-8 bytes: it runs on every authenticated request.
    public static func parse(_ text: String) -> APIKey? {
        parse(utf8: text.utf8)
    }

    /// `parse` on a key's UTF-8 bytes (a slice of the `Authorization` header: no string made first, and no copy
    /// when the bytes are contiguous, as a header's are).
    public static func parse<Bytes: Collection<UInt8>>(utf8: Bytes) -> APIKey? {
        if let parsed = utf8.withContiguousStorageIfAvailable({ parse(bytes: $0) }) { return parsed }
        return Array(utf8).withUnsafeBufferPointer { parse(bytes: $0) }
    }

    /// Checked in place: shape, alphabet and checksum (its digits compared as they are computed), then hashed once.
    static func parse(bytes: UnsafeBufferPointer<UInt8>) -> APIKey? {
        let secretStart = 4 + prefixLength + 1
        let checksumStart = secretStart + secretLength
        guard bytes.count == checksumStart + checksumLength, bytes[0] == UInt8(ascii: "t"),
            bytes[1] == UInt8(ascii: "s"), bytes[2] == UInt8(ascii: "k"), bytes[3] == UInt8(ascii: "_"),
            bytes[secretStart - 1] == UInt8(ascii: "_"), Base62.isValid(bytes[4..<(secretStart - 1)]),
            Base62.isValid(bytes[secretStart...])
        else { return nil }
        var crc = CRC32.checksum(bytes[0..<checksumStart])
        for i in stride(from: bytes.count - 1, through: checksumStart, by: -1) {
            guard bytes[i] == Base62.alphabet[Int(crc % 62)] else { return nil }
            crc /= 62
        }
        var hash = SHA256()
        hash.update(bufferPointer: UnsafeRawBufferPointer(bytes))
        return APIKey(
            prefix: String(decoding: UnsafeBufferPointer(rebasing: bytes[4..<(secretStart - 1)]), as: UTF8.self),
            secretPart: String(decoding: UnsafeBufferPointer(rebasing: bytes[secretStart...]), as: UTF8.self),
            digest: hash.finalize().bytes)
    }

    static func checksum(prefix: String, secret: String) -> String {
        let crc = CRC32.checksum(Array("\(scheme)_\(prefix)_\(secret)".utf8)[...])
        return String(decoding: Base62.encodedBytes(UInt64(crc), width: checksumLength), as: UTF8.self)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in a.indices { diff |= a[i] ^ b[i] }
    return diff == 0
}

enum Base62 {
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    static func random(count: Int, using rng: inout some RandomNumberGenerator) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            let byte = UInt8.random(in: 0...255, using: &rng)
            if byte < 248 { out.append(alphabet[Int(byte % 62)]) }  // 248 = 4 × 62: no modulo bias
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func encodedBytes(_ value: UInt64, width: Int) -> [UInt8] {
        var v = value
        var out = [UInt8](repeating: alphabet[0], count: width)
        for i in stride(from: width - 1, through: 0, by: -1) {
            out[i] = alphabet[Int(v % 62)]
            v /= 62
        }
        return out
    }

    static func isValid(_ s: String) -> Bool {
        isValid(s.utf8)
    }

    static func isValid<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        bytes.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }
    }
}

/// CRC-32 (IEEE 802.3, as zlib computes it).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
