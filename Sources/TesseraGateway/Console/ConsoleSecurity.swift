import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TesseraCore

/// The console's cookies, CSRF tokens and response headers.
///
/// - The session is the API's own session token (`tss_…`, from `POST /v1/auth/login`'s use case) in an HttpOnly,
///   SameSite=Strict cookie scoped to `/console` (Secure when the public URL is https): scripts never see it and
///   other sites never send it.
/// - Every form carries a CSRF token: HMAC-SHA256 of the session token under a key derived from the master key
///   (every gateway of a deployment computes the same one; nothing to store), compared in constant time. The sign-in
///   form, before there is a session, carries a random value that must equal its own cookie (double submit).
/// - Every page is sent with a Content-Security-Policy that allows scripts and styles from the console's own files
///   only (no `unsafe-inline`), no framing, and `no-store`.
struct ConsoleSecurity: Sendable {
    static let sessionCookie = "tessera_session"
    static let signInCookie = "tessera_signin"
    static let policy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// The CSRF key's bytes (`SymmetricKey` is not `Sendable`).
    let key: [UInt8]
    let secure: Bool

    init(masterKey: Data, secure: Bool) {
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: masterKey), info: Data("tessera console csrf".utf8),
            outputByteCount: 32)
        key = derived.withUnsafeBytes { Array($0) }
        self.secure = secure
    }

    /// The CSRF token of forms shown to the holder of `session`.
    func csrf(for session: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data(session.utf8), using: SymmetricKey(data: key))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    func checks(_ presented: String?, session: String) -> Bool {
        guard let presented else { return false }
        return constantTimeEquals(Array(presented.utf8), Array(csrf(for: session).utf8))
    }

    /// A cookie for the console's paths; `maxAge` 0 removes it.
    func cookie(_ name: String, _ value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/console; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// A new random value for the sign-in form's double submit.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(generator.next() as UInt64, radix: 16) }.joined(separator: "-")
    }

    /// The value of cookie `name` in the request.
    static func cookie(_ name: String, in request: Request) -> String? {
        CookieHeader.value(name, in: request.headers[values: .cookie])
    }

    /// The headers every console response carries.
    static func harden(_ headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] = policy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "same-origin"
        headers[.cacheControl] = "no-store"
    }
}

/// An `application/x-www-form-urlencoded` body (at most 64 KiB): each name's first value, or all of them (checkboxes).
struct ConsoleForm: Sendable {
    static let maxBytes = 64 << 10
    let fields: [String: String]
    let lists: [String: [String]]

    init(_ request: Request) async throws {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBytes)
        } catch is NIOTooManyBytesError {
            throw TesseraError.payloadTooLarge(limit: Self.maxBytes)
        }
        self.init(String(buffer: body))
    }

    init(_ text: String) {
        var fields: [String: String] = [:]
        var lists: [String: [String]] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if fields[name] == nil { fields[name] = value }
            lists[name, default: []].append(value)
        }
        self.fields = fields
        self.lists = lists
    }

    subscript(_ name: String) -> String? { fields[name] }

    /// Every value sent under `name`, in order (none: empty).
    func all(_ name: String) -> [String] { lists[name] ?? [] }

    /// A field with surrounding blanks removed; nil when missing or blank.
    func text(_ name: String) -> String? {
        guard let value = fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
            return nil
        }
        return value
    }
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
