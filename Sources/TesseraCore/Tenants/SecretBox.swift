import Crypto
import Foundation

/// Seals small secrets (org database passwords) with AES-256-GCM under the master key. The org's id is
/// bound as associated data, so a ciphertext moved to another org's row does not open.
public struct SecretBox: Sendable {
    private let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    public enum BoxError: Error, Equatable, CustomStringConvertible {
        case badMasterKey
        case cannotOpen

        public var description: String {
            switch self {
            case .badMasterKey: "the master key must be 32 bytes, base64-encoded (openssl rand -base64 32)"
            case .cannotOpen: "a sealed secret does not open with this master key"
            }
        }
    }

    /// From the base64 text of 32 random bytes (`TESSERA_MASTER_KEY`).
    public init(masterKeyBase64: String) throws {
        guard let data = Data(base64Encoded: masterKeyBase64.trimmingCharacters(in: .whitespacesAndNewlines)),
            data.count == 32
        else {
            throw BoxError.badMasterKey
        }
        self.keyBytes = Array(data)
    }

    /// A new random master key, base64 (for a dev profile's key file).
    public static func generateMasterKey() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// A key for another purpose (signing download links), derived from the master key with HKDF-SHA256: what it
    /// signs cannot open a sealed secret, nor the reverse.
    public func derivedKey(for purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data(purpose.utf8), outputByteCount: 32)
    }

    public func seal(_ secret: String, for org: UUID) throws -> [UInt8] {
        try seal(secret, bound: Self.associated(org))
    }

    public func open(_ sealed: [UInt8], for org: UUID) throws -> String {
        try open(sealed, bound: Self.associated(org))
    }

    /// Seals `secret` bound to `label` (a mail body to its message id, say): it opens only with that label.
    public func seal(_ secret: String, boundTo label: String) throws -> [UInt8] {
        try seal(secret, bound: Data(label.utf8))
    }

    public func open(_ sealed: [UInt8], boundTo label: String) throws -> String {
        try open(sealed, bound: Data(label.utf8))
    }

    func seal(_ secret: String, bound: Data) throws -> [UInt8] {
        Array(try AES.GCM.seal(Data(secret.utf8), using: key, authenticating: bound).combined!)
    }

    func open(_ sealed: [UInt8], bound: Data) throws -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return String(decoding: try AES.GCM.open(box, using: key, authenticating: bound), as: UTF8.self)
        } catch {
            throw BoxError.cannotOpen
        }
    }

    /// HMAC-SHA-256 under a key derived from the master key for `purpose` (audit anchors).
    public func sign(_ message: String, purpose: String) -> String {
        let derived = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data(purpose.utf8), using: key))
        return Array(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: derived)).hexString
    }

    public func verify(signature: String, of message: String, purpose: String) -> Bool {
        constantTimeEquals(Array(sign(message, purpose: purpose).utf8), Array(signature.utf8))
    }

    static func associated(_ org: UUID) -> Data {
        Data("tessera-org:\(org.uuidString.lowercased())".utf8)
    }
}
