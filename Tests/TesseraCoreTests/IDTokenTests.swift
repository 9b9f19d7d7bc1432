import Crypto
import Foundation
import Testing
import _CryptoExtras

@testable import TesseraCore

/// ID token checks without a network: tokens signed here with RSA and P-256 keys, each claim broken in turn.
@Suite struct IDTokenTests {
    static let issuer = "https://idp.example.test"
    static let client = "tessera"
    static let nonce = "n-0S6_WzA2Mj"
    static let rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let ecKey = P256.Signing.PrivateKey().rawRepresentation
    static var ec: P256.Signing.PrivateKey { try! P256.Signing.PrivateKey(rawRepresentation: ecKey) }

    static var rsaJWK: JSONWebKey {
        let primitives = try! rsa.publicKey.getKeyPrimitives()
        return JSONWebKey(
            kty: "RSA", kid: "r1", use: "sig", alg: "RS256", n: Base64URL.encode(Array(primitives.modulus)),
            e: Base64URL.encode(Array(primitives.publicExponent)))
    }

    static var ecJWK: JSONWebKey {
        let raw = Array(ec.publicKey.rawRepresentation)
        return JSONWebKey(
            kty: "EC", kid: "e1", crv: "P-256", x: Base64URL.encode(Array(raw[0..<32])),
            y: Base64URL.encode(Array(raw[32..<64])))
    }

    static var keys: JSONWebKeySet { JSONWebKeySet(keys: [rsaJWK, ecJWK]) }

    static func claims(_ changes: [String: Any] = [:]) -> [String: Any] {
        let now = Date().timeIntervalSince1970
        var claims: [String: Any] = [
            "iss": issuer, "sub": "248289761001", "aud": client, "exp": now + 300, "iat": now, "nonce": nonce,
            "email": "ada@example.test", "email_verified": true,
        ]
        for (key, value) in changes { claims[key] = value is NSNull ? nil : value }
        return claims
    }

    static func token(alg: String = "RS256", kid: String? = "r1", _ claims: [String: Any] = claims()) -> String {
        var header: [String: Any] = ["alg": alg, "typ": "JWT"]
        if let kid { header["kid"] = kid }
        let input =
            Base64URL.encode(Array(try! JSONSerialization.data(withJSONObject: header))) + "."
            + Base64URL.encode(Array(try! JSONSerialization.data(withJSONObject: claims)))
        let data = Data(input.utf8)
        let signature: [UInt8]
        switch alg {
        case "RS256":
            signature = Array(
                try! rsa.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
        case "PS256":
            signature = Array(try! rsa.signature(for: SHA256.hash(data: data), padding: .PSS).rawRepresentation)
        case "ES256":
            signature = Array(try! ec.signature(for: SHA256.hash(data: data)).rawRepresentation)
        default:
            signature = Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(size: .bits256)))
        }
        return input + "." + Base64URL.encode(signature)
    }

    static func verify(_ token: String, keys: JSONWebKeySet = keys) throws(IDTokenError) -> IDTokenClaims {
        try IDToken.verify(
            token, keys: keys, issuer: issuer, clientID: client, nonceDigest: Array(SHA256.hash(data: Data(nonce.utf8)))
        )
    }

    @Test func validTokensOfEachKeyTypePass() throws {
        for (alg, kid) in [("RS256", "r1"), ("PS256", "r1"), ("ES256", "e1")] {
            var jwk = kid == "r1" ? Self.rsaJWK : Self.ecJWK
            jwk.alg = nil
            let claims = try Self.verify(Self.token(alg: alg, kid: kid), keys: JSONWebKeySet(keys: [jwk]))
            #expect(claims.subject == "248289761001" && claims.email == "ada@example.test" && claims.emailVerified)
        }
        // An audience list naming us, with azp.
        #expect(throws: Never.self) {
            try Self.verify(Self.token(Self.claims(["aud": [Self.client, "other"], "azp": Self.client])))
        }
    }

    @Test func everyBrokenClaimIsRefusedForItsReason() {
        let now = Date().timeIntervalSince1970
        let cases: [([String: Any], IDTokenError)] = [
            (["iss": "https://evil.example.test"], .wrongIssuer),
            (["aud": "someone-else"], .wrongAudience),
            (["aud": [Self.client, "other"]], .wrongAudience),  // several audiences and no azp
            (["exp": now - 120], .expired),
            (["exp": NSNull()], .expired),
            (["nbf": now + 600], .notYetValid),
            (["iat": now + 600], .notYetValid),
            (["nonce": "another"], .wrongNonce),
            (["nonce": NSNull()], .wrongNonce),
            (["sub": NSNull()], .malformed),
        ]
        for (change, error) in cases {
            #expect(throws: error, "\(change)") { try Self.verify(Self.token(Self.claims(change))) }
        }
        // Inside the leeway, an expiry a moment ago still passes.
        #expect(throws: Never.self) { try Self.verify(Self.token(Self.claims(["exp": now - 10]))) }
    }

    @Test func signaturesAndAlgorithmsAreNotTakenOnTrust() {
        let good = Self.token()
        var parts = good.split(separator: ".").map(String.init)
        // Payload swapped: the signature no longer matches.
        parts[1] = Base64URL.encode(Array(try! JSONSerialization.data(withJSONObject: Self.claims(["sub": "admin"]))))
        #expect(throws: IDTokenError.badSignature) { try Self.verify(parts.joined(separator: ".")) }
        // Signed by another key under our kid.
        let other = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        let input = good.split(separator: ".").prefix(2).joined(separator: ".")
        let forged = try! other.signature(for: SHA256.hash(data: Data(input.utf8)), padding: .insecurePKCS1v1_5)
        #expect(throws: IDTokenError.badSignature) {
            try Self.verify(input + "." + Base64URL.encode(Array(forged.rawRepresentation)))
        }
        // alg none, HMAC, and an RSA token presented as EC.
        #expect(throws: IDTokenError.badSignature) { try Self.verify(input + ".") }
        let none = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + good.split(separator: ".")[1] + "."
        #expect(throws: IDTokenError.unsupportedAlgorithm) { try Self.verify(none) }
        #expect(throws: IDTokenError.unsupportedAlgorithm) { try Self.verify(Self.token(alg: "HS256")) }
        #expect(throws: IDTokenError.unknownKey) { try Self.verify(Self.token(alg: "ES256", kid: "r1")) }
        // A kid the set lacks (rotation: fetch the set again), and no kid with two candidate keys.
        #expect(throws: IDTokenError.unknownKey) { try Self.verify(Self.token(kid: "r2")) }
        let twoRSA = JSONWebKeySet(keys: [Self.rsaJWK, JSONWebKey(kty: "RSA", kid: "r9", n: "AQAB", e: "AQAB")])
        #expect(throws: IDTokenError.unknownKey) { try Self.verify(Self.token(kid: nil), keys: twoRSA) }
        #expect(throws: Never.self) { try Self.verify(Self.token(kid: nil), keys: JSONWebKeySet(keys: [Self.rsaJWK])) }
        // Garbage.
        for text in ["", "a.b", "a.b.c", "\(good).x", "e30.e30.e30"] {
            #expect(throws: IDTokenError.self) { try Self.verify(text) }
        }
    }

    @Test func pkceMatchesRFC7636() {
        // RFC 7636, appendix B.
        let pkce = PKCE(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        #expect(pkce.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        let fresh = PKCE.generate()
        #expect(fresh.verifier.count == 43 && fresh.verifier != PKCE.generate().verifier)
        #expect(Base64URL.decode("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")?.count == 32)
        #expect(Base64URL.decode("a+b/") == nil && Base64URL.decode("YQ==") == nil)
    }

    @Test func onlyPublicAddressesAreCalled() {
        let refused = [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
            "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "::1", "::", "fe80::1",
            "fd00::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2001:db8::1",
            "64:ff9b::a00:1", "2002:a00:1::1", "[::1]",
        ]
        for text in refused {
            let address = OutboundAddress.parse(text)
            #expect(address != nil && !OutboundAddress.isPublic(address!), "\(text)")
        }
        for text in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            let address = OutboundAddress.parse(text)
            #expect(address != nil && OutboundAddress.isPublic(address!), "\(text)")
        }
        #expect(OutboundAddress.parse("example.test") == nil)
    }
}
