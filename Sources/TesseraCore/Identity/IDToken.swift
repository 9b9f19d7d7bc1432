import Crypto
import Foundation
import _CryptoExtras

/// Why an ID token was refused: short categories of our own, safe to name in an answer and an audit record
/// (never the token, never the provider's text).
public enum IDTokenError: Error, Equatable, Sendable {
    case malformed
    case unsupportedAlgorithm
    /// No key of the issuer's key set matches the token's `kid`: the set may have rotated (fetch it again).
    case unknownKey
    case badSignature
    case wrongIssuer
    case wrongAudience
    case expired
    case notYetValid
    case wrongNonce

    public var reason: String {
        switch self {
        case .malformed: "malformed ID token"
        case .unsupportedAlgorithm: "unsupported signature algorithm"
        case .unknownKey: "no signing key of the issuer matches"
        case .badSignature: "bad signature"
        case .wrongIssuer: "wrong issuer"
        case .wrongAudience: "wrong audience"
        case .expired: "expired token"
        case .notYetValid: "token not yet valid"
        case .wrongNonce: "wrong nonce"
        }
    }
}

/// One key of a JSON Web Key Set (RFC 7517), the members a signature check needs.
public struct JSONWebKey: Decodable, Sendable, Equatable {
    public var kty: String
    public var kid: String?
    public var use: String?
    public var alg: String?
    public var n: String?
    public var e: String?
    public var crv: String?
    public var x: String?
    public var y: String?

    public init(
        kty: String, kid: String? = nil, use: String? = nil, alg: String? = nil, n: String? = nil,
        e: String? = nil, crv: String? = nil, x: String? = nil, y: String? = nil
    ) {
        (self.kty, self.kid, self.use, self.alg, self.n, self.e, self.crv, self.x, self.y) =
            (kty, kid, use, alg, n, e, crv, x, y)
    }
}

/// A JSON Web Key Set, as an issuer's `jwks_uri` serves it.
public struct JSONWebKeySet: Decodable, Sendable, Equatable {
    public var keys: [JSONWebKey]

    public init(keys: [JSONWebKey]) { self.keys = keys }
}

/// The claims of an ID token that passed every check.
public struct IDTokenClaims: Sendable, Equatable {
    public let issuer: String
    public let subject: String
    public let email: String?
    public let emailVerified: Bool
    public let name: String?
}

/// OpenID Connect ID tokens (compact JWS): signature by a key of the issuer's set, `iss`, `aud` (and `azp`
/// when there are several audiences), `exp`, `iat`/`nbf` and `nonce`. Asymmetric algorithms only (RS256/384/512,
/// PS256/384/512, ES256/384); `none` and the HMAC family are refused, whatever the header says.
public enum IDToken {
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    public static let leeway: TimeInterval = 60

    public static func verify(
        _ token: String, keys: JSONWebKeySet, issuer: String, clientID: String, nonceDigest: [UInt8], now: Date = Date()
    ) throws(IDTokenError) -> IDTokenClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
            let payloadBytes = Base64URL.decode(parts[1]), let signature = Base64URL.decode(parts[2]),
            let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)),
            let payload = try? JSONDecoder().decode(Payload.self, from: Data(payloadBytes))
        else { throw .malformed }
        guard header.crit == nil, let algorithm = Algorithm(rawValue: header.alg) else { throw .unsupportedAlgorithm }
        let key = try Self.key(for: header.kid, algorithm: algorithm, in: keys)
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard try algorithm.verify(signature, of: signingInput, with: key) else { throw .badSignature }

        guard payload.iss == issuer else { throw .wrongIssuer }
        guard payload.aud.contains(clientID), payload.aud.count == 1 || payload.azp == clientID else {
            throw .wrongAudience
        }
        let seconds = now.timeIntervalSince1970
        guard let exp = payload.exp, exp + leeway > seconds else { throw .expired }
        if let nbf = payload.nbf, nbf - leeway > seconds { throw .notYetValid }
        if let iat = payload.iat, iat - leeway > seconds { throw .notYetValid }
        guard let nonce = payload.nonce, SHA256.hash(data: Data(nonce.utf8)).bytes == nonceDigest else {
            throw .wrongNonce
        }
        guard let subject = payload.sub, !subject.isEmpty, subject.utf8.count <= 255 else { throw .malformed }
        return IDTokenClaims(
            issuer: payload.iss, subject: subject, email: payload.email,
            emailVerified: payload.email_verified ?? false, name: payload.name)
    }

    /// The key the header names (by `kid`), or the set's only key of the algorithm's type when it names none.
    static func key(for kid: String?, algorithm: Algorithm, in set: JSONWebKeySet) throws(IDTokenError) -> JSONWebKey {
        let usable = set.keys.filter { key in
            key.kty == algorithm.keyType && (key.use == nil || key.use == "sig")
                && (key.alg == nil || key.alg == algorithm.rawValue)
        }
        if let kid {
            guard let key = usable.first(where: { $0.kid == kid }) else { throw .unknownKey }
            return key
        }
        guard usable.count == 1 else { throw .unknownKey }
        return usable[0]
    }

    struct Header: Decodable {
        let alg: String
        let kid: String?
        let crit: [String]?
    }

    struct Payload: Decodable {
        let iss: String
        let sub: String?
        let aud: [String]
        let azp: String?
        let exp: Double?
        let iat: Double?
        let nbf: Double?
        let nonce: String?
        let email: String?
        let email_verified: Bool?
        let name: String?

        enum CodingKeys: String, CodingKey {
            case iss, sub, aud, azp, exp, iat, nbf, nonce, email, email_verified, name
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            iss = try c.decode(String.self, forKey: .iss)
            sub = try c.decodeIfPresent(String.self, forKey: .sub)
            if let one = try? c.decode(String.self, forKey: .aud) {
                aud = [one]
            } else {
                aud = try c.decode([String].self, forKey: .aud)
            }
            azp = try c.decodeIfPresent(String.self, forKey: .azp)
            exp = try c.decodeIfPresent(Double.self, forKey: .exp)
            iat = try c.decodeIfPresent(Double.self, forKey: .iat)
            nbf = try c.decodeIfPresent(Double.self, forKey: .nbf)
            nonce = try c.decodeIfPresent(String.self, forKey: .nonce)
            email = try c.decodeIfPresent(String.self, forKey: .email)
            // Some providers send "true" as a string.
            if let flag = try? c.decodeIfPresent(Bool.self, forKey: .email_verified) {
                email_verified = flag
            } else {
                email_verified = (try? c.decodeIfPresent(String.self, forKey: .email_verified)) == "true"
            }
            name = try c.decodeIfPresent(String.self, forKey: .name)
        }
    }

    enum Algorithm: String {
        case rs256 = "RS256"
        case rs384 = "RS384"
        case rs512 = "RS512"
        case ps256 = "PS256"
        case ps384 = "PS384"
        case ps512 = "PS512"
        case es256 = "ES256"
        case es384 = "ES384"

        var keyType: String {
            switch self {
            case .es256, .es384: "EC"
            default: "RSA"
            }
        }

        func verify(_ signature: [UInt8], of input: [UInt8], with key: JSONWebKey) throws(IDTokenError) -> Bool {
            switch self {
            case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512:
                guard let n = key.n.flatMap(Base64URL.decode), let e = key.e.flatMap(Base64URL.decode),
                    let publicKey = try? _RSA.Signing.PublicKey(n: n, e: e), publicKey.keySizeInBits >= 2048
                else { throw .malformed }
                let padding: _RSA.Signing.Padding =
                    [.ps256, .ps384, .ps512].contains(self) ? .PSS : .insecurePKCS1v1_5
                let rsaSignature = _RSA.Signing.RSASignature(rawRepresentation: signature)
                switch self {
                case .rs256, .ps256:
                    return publicKey.isValidSignature(rsaSignature, for: SHA256.hash(data: input), padding: padding)
                case .rs384, .ps384:
                    return publicKey.isValidSignature(rsaSignature, for: SHA384.hash(data: input), padding: padding)
                default:
                    return publicKey.isValidSignature(rsaSignature, for: SHA512.hash(data: input), padding: padding)
                }
            case .es256:
                guard key.crv == "P-256", let x = key.x.flatMap(Base64URL.decode),
                    let y = key.y.flatMap(Base64URL.decode),
                    let publicKey = try? P256.Signing.PublicKey(rawRepresentation: x + y)
                else { throw .malformed }
                guard let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
                return publicKey.isValidSignature(ecdsa, for: SHA256.hash(data: input))
            case .es384:
                guard key.crv == "P-384", let x = key.x.flatMap(Base64URL.decode),
                    let y = key.y.flatMap(Base64URL.decode),
                    let publicKey = try? P384.Signing.PublicKey(rawRepresentation: x + y)
                else { throw .malformed }
                guard let ecdsa = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
                return publicKey.isValidSignature(ecdsa, for: SHA384.hash(data: input))
            }
        }
    }
}

/// The proof key of an authorization-code request (RFC 7636, S256).
public struct PKCE: Sendable {
    /// 43 characters of base64url from 32 random bytes: kept by the gateway, sent only to the token endpoint.
    public let verifier: String

    public init(verifier: String) { self.verifier = verifier }

    public static func generate() -> PKCE { PKCE(verifier: Base64URL.random(bytes: 32)) }

    /// What the authorization request carries: base64url(SHA-256(verifier)).
    public var challenge: String { Base64URL.encode(SHA256.hash(data: Data(verifier.utf8)).bytes) }
}

/// Base64 with the URL alphabet and no padding (RFC 4648 §5), as JOSE and PKCE write it.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard text.utf8.allSatisfy({ $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") })
        else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map(Array.init)
    }

    /// `bytes` random bytes, encoded.
    public static func random(bytes count: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        return encode((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
    }
}
