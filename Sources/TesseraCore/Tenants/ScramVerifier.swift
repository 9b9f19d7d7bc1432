import Crypto
import Foundation

/// PostgreSQL's stored form of a password (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
/// RFC 5802/7677). `CREATE ROLE … PASSWORD '<verifier>'` then never carries the password itself, so it
/// cannot leak into a server log.
public enum ScramVerifier {
    /// PBKDF2 iterations in an org login role's verifier. RFC 7677 asks for at least 4,096 so that a stolen
    /// verifier is slow to test guesses of a person's password against; an org role's password is 256 random
    /// bits the gateway made (`APIKey.generate`), which no number of guesses finds, so the stretching buys
    /// nothing there — while the client pays it on every new connection (4,096 iterations cost the gateway's
    /// PostgresNIO 1–1.7 ms of CPU a connection and libpq ~6 ms, measured here), and a gateway over many orgs
    /// opens one for each request to an org whose connection it has let go. 16 cost microseconds.
    public static let orgRoleIterations = 16

    public static func make(password: String, salt: [UInt8]? = nil, iterations: Int = 4096) -> String {
        let salt = salt ?? (0..<16).map { _ in UInt8.random(in: 0...255) }
        let salted = hi(password: Array(password.utf8), salt: salt, iterations: iterations)
        let saltedKey = SymmetricKey(data: salted)
        let clientKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Client Key".utf8), using: saltedKey))
        let storedKey = Data(SHA256.hash(data: clientKey))
        let serverKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Server Key".utf8), using: saltedKey))
        return "SCRAM-SHA-256$\(iterations):\(Data(salt).base64EncodedString())$"
            + "\(storedKey.base64EncodedString()):\(serverKey.base64EncodedString())"
    }

    /// PBKDF2-HMAC-SHA-256 with one output block (`Hi` of RFC 5802).
    static func hi(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: password)
        var u = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = u
        for _ in 1..<iterations {
            u = Array(HMAC<SHA256>.authenticationCode(for: u, using: key))
            for i in result.indices { result[i] ^= u[i] }
        }
        return result
    }
}
