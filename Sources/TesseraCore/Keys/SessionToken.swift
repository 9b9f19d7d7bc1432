import Crypto

/// A session or invitation token `tss_<43 base62>` (256 bits). Only its SHA-256 is stored.
public struct SessionToken: Sendable, CustomStringConvertible {
    public static let scheme = "tss"
    static let length = 43

    /// The token, for its holder only: never stored or logged.
    public let plaintext: String

    public var digest: [UInt8] { SHA256.hash(data: Array(plaintext.utf8)).bytes }

    public var description: String { "\(Self.scheme)_***" }

    public static func generate() -> SessionToken {
        var rng = SystemRandomNumberGenerator()
        return SessionToken(plaintext: "\(scheme)_" + Base62.random(count: length, using: &rng))
    }

    public static func parse(_ text: String) -> SessionToken? {
        guard text.count == scheme.count + 1 + length, text.hasPrefix("\(scheme)_"),
            Base62.isValid(String(text.dropFirst(scheme.count + 1)))
        else { return nil }
        return SessionToken(plaintext: text)
    }
}
