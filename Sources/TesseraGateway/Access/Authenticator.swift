import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Step 1 of the chain: turns the `Authorization` header into a `Principal`, or throws 401 (429 for an
/// address over the failure threshold). Every failure goes to the one audit hook.
struct Authenticator: Sendable {
    let client: PostgresClient
    let cache: CredentialCache
    let limiter: FailureLimiter
    let lastUsed: LastUsedRecorder
    let failures: AuthFailureHook
    let logger: Logger

    enum Failure: String, Error, Sendable {
        case missing = "missing credentials"
        case malformed = "malformed credentials"
        case unknown = "unknown key"
        case wrongSecret = "wrong secret"
        case revoked = "revoked key"
        case expired = "expired key"
    }

    func authenticate(_ request: Request, address: String, requestID: String?) async throws -> Principal {
        if let seconds = limiter.retryAfter(address) {
            throw TesseraError.tooManyRequests(retryAfterSeconds: seconds)
        }
        let result = await verify(request.headers[.authorization])
        switch result {
        case .success(let principal):
            return principal
        case .failure(let failure):
            if failure != .missing { limiter.recordFailure(address) }
            failures.record(AuthFailure(reason: failure.rawValue, address: address, requestID: requestID,
                                        userAgent: request.headers[.userAgent], keyPrefix: Self.prefix(of: request.headers[.authorization])))
            throw TesseraError.unauthorized(
                failure == .missing
                    ? "send Authorization: Bearer <api key>"
                    : "the credentials are invalid, expired or revoked")
        }
    }

    func verify(_ header: String?) async -> Result<Principal, Failure> {
        guard let header else { return .failure(.missing) }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else { return .failure(.malformed) }
        guard let key = APIKey.parse(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)) else {
            return .failure(.malformed)
        }
        let credential: StoredCredential
        if let cached = cache.get(key.prefix) {
            credential = cached
        } else {
            do {
                guard let stored = try await client.withConnection({ connection in
                    try await APIKeyStore(logger: logger).credential(prefix: key.prefix, on: connection)
                }) else { return .failure(.unknown) }
                credential = stored
                cache.put(stored)
            } catch {
                logger.error("credential look-up failed", metadata: ["error": "\(describeDatabaseError(error))"])
                return .failure(.unknown)
            }
        }
        guard constantTimeEquals(key.digest, credential.keyHash) else { return .failure(.wrongSecret) }
        if credential.revokedAt != nil { return .failure(.revoked) }
        if let expires = credential.expiresAt, expires <= Date() { return .failure(.expired) }
        lastUsed.used(credential.keyID)
        if credential.platformAdmin {
            return .success(Principal(kind: .platformAdmin(keyID: credential.keyID), display: key.displayPrefix, grants: [:]))
        }
        guard let org = credential.orgID else { return .failure(.unknown) }
        return .success(Principal(kind: .apiKey(keyID: credential.keyID), display: key.displayPrefix, grants: [org: credential.permissions]))
    }

    /// The display prefix of a presented key, when it has one; never the secret.
    static func prefix(of header: String?) -> String? {
        guard let header, let range = header.range(of: "tsk_") else { return nil }
        let rest = header[range.upperBound...]
        guard let end = rest.firstIndex(of: "_") else { return nil }
        let prefix = rest[..<end]
        return prefix.count == 12 && prefix.allSatisfy({ $0.isLetter || $0.isNumber }) ? "tsk_\(prefix)" : nil
    }
}

/// One failed authentication, for the audit log.
struct AuthFailure: Sendable {
    let reason: String
    let address: String
    let requestID: String?
    let userAgent: String?
    let keyPrefix: String?
}

/// The one place authentication failures go. Until the audit log lands (issue 5) it writes a structured
/// log line; the audit issue replaces the body with an `audit_logs` record.
struct AuthFailureHook: Sendable {
    let logger: Logger

    func record(_ failure: AuthFailure) {
        logger.notice(
            "authentication failed",
            metadata: [
                "audit.action": "auth.failed",
                "reason": .string(failure.reason),
                "client_ip": .string(failure.address),
                "key_prefix": .string(failure.keyPrefix ?? "-"),
            ])
    }
}
