import Crypto
import Foundation
import TesseraCore

/// Short-lived download links: `/v1/artifact-downloads/{token}`, where the token names the org, the artifact and
/// the expiry, signed with HMAC-SHA256 under a key derived from the master key (so every gateway process of the
/// deployment accepts the links of the others, and none can be made without the key).
struct ArtifactLinks: Sendable {
    private let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    static let maxSeconds = 24 * 3600

    init(box: SecretBox) {
        keyBytes = box.derivedKey(for: "tessera artifact download links v1").withUnsafeBytes { Array($0) }
    }

    /// `{org}.{artifact}.{expiry, Unix seconds}.{signature, base64url}`.
    func token(org: UUID, artifact: UUID, expires: Date) -> String {
        let claims = Self.claims(org: org, artifact: artifact, expires: Int(expires.timeIntervalSince1970))
        let signature = HMAC<SHA256>.authenticationCode(for: Data(claims.utf8), using: key)
        return "\(claims).\(Base64URL.encode(Array(signature)))"
    }

    /// The org and artifact of a token that is well formed, signed with this key and not expired; nil otherwise.
    func verify(_ token: String, now: Date = Date()) -> (org: UUID, artifact: UUID)? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, let org = UUID(uuidString: String(parts[0])),
            let artifact = UUID(uuidString: String(parts[1])), let expires = Int(parts[2]),
            let signature = Base64URL.decode(parts[3])
        else { return nil }
        let claims = Self.claims(org: org, artifact: artifact, expires: expires)
        // Rebuilt from what was parsed: a token whose text is not the canonical form of its parts is refused.
        guard token == "\(claims).\(Base64URL.encode(signature))",
            HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Data(claims.utf8), using: key),
            Double(expires) > now.timeIntervalSince1970
        else { return nil }
        return (org, artifact)
    }

    static func claims(org: UUID, artifact: UUID, expires: Int) -> String {
        "\(org.uuidString.lowercased()).\(artifact.uuidString.lowercased()).\(expires)"
    }
}
