import Crypto

extension Digest {
    /// The digest's bytes, copied in one allocation: `Array(digest)` iterates a sequence of unknown length and grows
    /// its array four times for a SHA-256 (a key is hashed on every authenticated request).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
