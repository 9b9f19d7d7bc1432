import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// Step 1 of the chain: turns the `Authorization` header (an API key or a session token) into a
/// `Principal`, or throws 401 (429 for an address over the failure threshold). Every failure goes to the
/// one audit hook.
struct Authenticator: Sendable {
    let client: PostgresClient
    let cache: CredentialCache
    let limiter: FailureLimiter
    let lastUsed: LastUsedRecorder
    let failures: AuthFailureHook
    /// The longest a credential look-up waits for the metadata database (then 503, not 401).
    let deadline: Duration
    let logger: Logger
    /// Look-ups of one credential at once share one query: when its cache entry expires under load, or when many
    /// requests bring a key at once, the database sees one look-up, not one per request.
    let keyLookups = SingleFlight<Result<StoredCredential, Failure>>()
    let sessionLookups = SingleFlight<Result<SessionCredential, Failure>>()

    enum Failure: String, Error, Sendable {
        case missing = "missing credentials"
        case malformed = "malformed credentials"
        case unknown = "unknown credentials"
        case wrongSecret = "wrong secret"
        case revoked = "revoked credentials"
        case expired = "expired credentials"
        case wrongPassword = "wrong email or password"
        /// Not the client's failure: the credential could not be looked up.
        case unavailable = "credential store unavailable"
    }

    /// The request's principal. Valid credentials are never refused because other requests from the same
    /// address failed: the address's failures only turn this request's own failure into a 429 (not recorded
    /// one by one while the address is over the limit).
    func authenticate(_ request: Request, info: RequestInfo) async throws -> Principal {
        switch await verify(request.headers[.authorization]) {
        case .success(let principal):
            return principal
        case .failure(.unavailable):
            Self.count(Failure.unavailable.rawValue)
            throw TesseraError.unavailable("credentials cannot be checked now: the metadata database is unreachable")
        case .failure(let failure):
            let presented = Self.prefix(of: request.headers[.authorization])
            if let seconds = limiter.retryAfter(info.clientAddress) {
                Self.count(failure.rawValue)
                // Over the limit: refused without a record of its own, counted in the window's summary.
                _ = failures.pending.note(
                    AuthFailure(reason: failure.rawValue, info: info, presented: presented), window: failures.window,
                    refused: true)
                throw TesseraError.tooManyRequests(retryAfterSeconds: seconds)
            }
            throw await fail(failure, info: info, presented: presented)
        }
    }

    /// 429 when the account (by its normalised email) failed too often lately: password attempts are limited
    /// per account as well as per address.
    func checkAccountLimit(_ email: String) throws {
        if let seconds = limiter.retryAfter("account:\(email)") {
            throw TesseraError.tooManyRequests(retryAfterSeconds: seconds)
        }
    }

    func recordAccountFailure(_ email: String) {
        limiter.recordFailure("account:\(email)")
    }

    /// 429 when the client's address failed too often lately.
    func checkLimit(_ info: RequestInfo) throws {
        if let seconds = limiter.retryAfter(info.clientAddress) {
            throw TesseraError.tooManyRequests(retryAfterSeconds: seconds)
        }
    }

    /// Counts a refused or uncheckable credential in `tessera_auth_failures_total` by its reason (a fixed set of
    /// ours: never text a client chose).
    static func count(_ reason: String) {
        Counter(label: "tessera_auth_failures_total", dimensions: [("reason", reason)]).increment()
    }

    /// Counts and records a failure; returns the 401 to throw.
    func fail(_ failure: Failure, info: RequestInfo, presented: String?) async -> TesseraError {
        Self.count(failure.rawValue)
        // A request without credentials counts too: otherwise a loop of them writes a record each, unbounded.
        limiter.recordFailure(info.clientAddress)
        await failures.record(AuthFailure(reason: failure.rawValue, info: info, presented: presented))
        switch failure {
        case .missing: return .unauthorized("send Authorization: Bearer <api key or session token>")
        case .wrongPassword: return .unauthorized("the email or the password is wrong")
        default: return .unauthorized("the credentials are invalid, expired or revoked")
        }
    }

    /// Counts and records a refused identity-provider sign-in; returns the error to throw (401, or 403 for an
    /// identity the provider does not admit, 409 for an email whose account is not linked to it).
    func failSignIn(_ refusal: OIDCRefusal, info: RequestInfo) async -> TesseraError {
        Self.count("identity provider sign-in refused")
        limiter.recordFailure(info.clientAddress)
        await failures.record(AuthFailure(reason: "oidc: \(refusal.reason)", info: info, presented: nil))
        switch refusal.kind {
        case .unauthenticated: return .unauthorized("signing in with the identity provider failed: \(refusal.reason)")
        case .notAdmitted: return .forbidden("signing in with the identity provider failed: \(refusal.reason)")
        case .unlinkedAccount: return .conflict(refusal.reason)
        }
    }

    func verify(_ header: String?) async -> Result<Principal, Failure> {
        guard let header else { return .failure(.missing) }
        guard let token = Self.bearerToken(header) else { return .failure(.malformed) }
        if let key = APIKey.parse(utf8: token.utf8) { return await verify(key) }
        if let session = SessionToken.parse(String(token)) { return await verify(session) }
        return .failure(.malformed)
    }

    /// The principal of a valid API key whose look-up is cached, found without suspending (a key in steady use: the
    /// hot path pays no async frame for its check); nil when anything else is presented, or the key needs the
    /// full path (not cached, or failing: `authenticate` then counts and records the failure).
    func cachedPrincipal(_ header: String?) -> Principal? {
        guard let header, let token = Self.bearerToken(header), let key = APIKey.parse(utf8: token.utf8),
            case .key(let credential, let principal) = cache.get(key.prefix),
            case .success(let verified) = check(key, against: credential, principal: principal)
        else { return nil }
        return verified
    }

    /// A presented key against its stored credential (and the principal it makes); marks the key used when valid.
    func check(_ key: APIKey, against credential: StoredCredential, principal: Principal?) -> Result<Principal, Failure>
    {
        guard constantTimeEquals(key.digest, credential.keyHash) else { return .failure(.wrongSecret) }
        if credential.revokedAt != nil { return .failure(.revoked) }
        if let expires = credential.expiresAt, expires <= Date() { return .failure(.expired) }
        guard let principal else { return .failure(.unknown) }
        lastUsed.used(credential.keyID)
        return .success(principal)
    }

    func verify(_ key: APIKey) async -> Result<Principal, Failure> {
        let credential: StoredCredential
        let principal: Principal?
        if case .key(let cached, let made) = cache.get(key.prefix) {
            (credential, principal) = (cached, made)
        } else {
            let lookedUp = await keyLookups.run(key.prefix) { [self] in
                await lookUp { [logger] in try await APIKeyStore(logger: logger).credential(prefix: key.prefix, on: $0)
                }
            }
            switch lookedUp {
            case .success(let stored):
                (credential, principal) = (stored, Self.principal(for: stored))
                cache.put(.key(stored, principal), as: key.prefix)
            case .failure(let failure):
                return .failure(failure)
            }
        }
        return check(key, against: credential, principal: principal)
    }

    /// The principal a key stands for once verified (nil for an org key without an org, which cannot be).
    static func principal(for credential: StoredCredential) -> Principal? {
        let display = "\(APIKey.scheme)_\(credential.prefix)"
        if credential.platformAdmin {
            return Principal(kind: .platformAdmin(keyID: credential.keyID), display: display, grants: [:])
        }
        guard let org = credential.orgID else { return nil }
        return Principal(
            kind: .apiKey(keyID: credential.keyID), display: display, grants: [org: credential.permissions])
    }

    func verify(_ token: SessionToken) async -> Result<Principal, Failure> {
        // Looked up by digest: the digest is the secret's only stored form, so equality is the check.
        let digest = token.digest
        let name = "session:\(digest.hexString)"
        let credential: SessionCredential
        if case .session(let cached) = cache.get(name) {
            credential = cached
        } else {
            let lookedUp = await sessionLookups.run(name) { [self] in
                await lookUp { [logger] in try await UserStore(logger: logger).session(digest: digest, on: $0) }
            }
            switch lookedUp {
            case .success(let stored):
                credential = stored
                cache.put(.session(stored), as: name)
            case .failure(let failure):
                return .failure(failure)
            }
        }
        if credential.revokedAt != nil || !credential.userActive { return .failure(.revoked) }
        if credential.expiresAt <= Date() { return .failure(.expired) }
        return .success(
            Principal(
                kind: .user(userID: credential.userID, sessionID: credential.tokenID), display: credential.email,
                grants: credential.grants, isPlatformAdmin: credential.isPlatformAdmin))
    }

    private func lookUp<T: Sendable>(_ query: @escaping @Sendable (PostgresConnection) async throws -> T?) async
        -> Result<T, Failure>
    {
        do {
            guard
                let found = try await withDeadline(
                    deadline, { [client] in try await client.withConnection({ try await query($0) }) })
            else { return .failure(.unknown) }
            return .success(found)
        } catch {
            logger.warning("credential look-up failed", metadata: ["error": "\(describeDatabaseError(error))"])
            return .failure(.unavailable)
        }
    }

    /// The token of `Bearer <token>` (scheme case-insensitive, spaces around the token ignored).
    static func bearerToken(_ header: String) -> Substring? {
        let bytes = header.utf8
        guard bytes.count > 7, zip(bytes.prefix(6), "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }),
            bytes.dropFirst(6).first == 0x20
        else {
            return nil
        }
        let token = bytes.dropFirst(7).drop { $0 == 0x20 }
        let end = token.lastIndex { $0 != 0x20 }.map { bytes.index(after: $0) } ?? token.startIndex
        return header[token.startIndex..<end]
    }

    /// The display prefix of a presented API key, when it has one; never the secret.
    static func prefix(of header: String?) -> String? {
        guard let header, let range = header.range(of: "tsk_") else { return nil }
        let rest = header[range.upperBound...]
        guard let end = rest.firstIndex(of: "_") else { return nil }
        let prefix = rest[..<end]
        return prefix.count == 12 && prefix.allSatisfy({ $0.isLetter || $0.isNumber }) ? "tsk_\(prefix)" : nil
    }
}

/// Who sent the request, from where: set by the access middleware for every route.
public struct RequestInfo: Sendable {
    public let requestID: String?
    public let clientAddress: String
    /// At most `maxUserAgentBytes` of the header: it is stored with audit records, and a stranger chooses it.
    public let userAgent: String?

    public static let maxUserAgentBytes = 512
}

/// One failed authentication, for the audit log.
struct AuthFailure: Sendable {
    let reason: String
    let info: RequestInfo
    /// A key's display prefix or an email: who was claimed, never a secret.
    let presented: String?
}

/// The one place authentication failures go: `auth.failed` records in the platform's audit chain (the
/// credentials name no org that could be trusted), and log lines. From one address, the first failure of a reason
/// in a window is recorded at once; the rest of that window (429s included) are summed into one record with their
/// count when the window closes (`FailureSummaries`): a stranger's loop writes two records a window, not one a
/// request.
struct AuthFailureHook: Sendable {
    let client: PostgresClient
    let window: Duration
    /// The longest one record's write may wait for the metadata database (a refused request is answered then,
    /// recorded or not; the summaries' pass goes on).
    let deadline: Duration
    let logger: Logger
    let pending = FailureAggregator()

    init(client: PostgresClient, window: Duration, deadline: Duration = .seconds(60), logger: Logger) {
        self.client = client
        self.window = window
        self.deadline = deadline
        self.logger = logger
    }

    func record(_ failure: AuthFailure) async {
        if pending.note(failure, window: window) { await write(failure, count: nil) }
    }

    /// Writes the summaries of windows that have closed (all of them when `all`); returns how many.
    @discardableResult
    func flush(all: Bool = false, now: ContinuousClock.Instant = .now) async -> Int {
        let due = pending.due(window: window, all: all, now: now)
        for summary in due { await write(summary.last, count: summary) }
        return due.count
    }

    private func write(_ failure: AuthFailure, count summary: FailureAggregator.Summary?) async {
        let claimed: ActorKind =
            failure.presented?.hasPrefix("tsk_") == true
            ? .apiKey : (failure.presented?.contains("@") == true ? .user : .system)
        var metadata = ["reason": failure.reason]
        if let summary {
            metadata = [
                "reason": failure.reason, "repeated": String(summary.count), "refused_429": String(summary.refused),
                "window_seconds": String(window.components.seconds),
            ]
        }
        let event = AuditEvent(
            org: nil, actorKind: claimed, actorDisplay: failure.presented ?? "anonymous", action: .authFailed,
            outcome: .denied,
            requestID: summary == nil ? failure.info.requestID : nil,
            clientIP: failure.info.clientAddress == "unknown" ? nil : failure.info.clientAddress,
            userAgent: failure.info.userAgent, metadata: metadata)
        do {
            _ = try await withDeadline(deadline) { [client, logger] in
                try await client.withConnection { try await AuditStore(logger: logger).append(event, on: $0) }
            }
        } catch {
            logger.error(
                "could not record an authentication failure", metadata: ["error": "\(describeDatabaseError(error))"])
        }
        logger.notice(
            summary == nil ? "authentication failed" : "authentication failed repeatedly",
            metadata: [
                "audit.action": "auth.failed",
                "reason": .string(failure.reason),
                "count": .string(summary.map { String($0.count) } ?? "1"),
                "client_ip": .string(failure.info.clientAddress),
                "request_id": .string(failure.info.requestID ?? "-"),
                "presented": .string(failure.presented ?? "-"),
            ])
    }
}

/// Failures per address, reason and window, after the first (which is recorded at once).
final class FailureAggregator: Sendable {
    struct Summary: Sendable {
        let opened: ContinuousClock.Instant
        var count = 0
        var refused = 0
        var last: AuthFailure
    }

    private let windows = Mutex<[String: Summary]>([:])

    /// True when `failure` opens its address's window (record it now); else it is counted for the summary.
    func note(_ failure: AuthFailure, window: Duration, refused: Bool = false, now: ContinuousClock.Instant = .now)
        -> Bool
    {
        windows.withLock { all in
            let key = "\(failure.info.clientAddress) \(failure.reason)"
            guard var summary = all[key], now - summary.opened < window else {
                // A window past its end not yet written is kept apart for `due`, which writes its summary.
                if let closed = all[key], closed.count > 0 { all["\(key)#closed\(closed.opened)"] = closed }
                all[key] = Summary(opened: now, last: failure)
                // Bound the table: an attack spread over very many addresses forgets their quiet windows.
                if all.count > 100_000 { all = all.filter { $0.value.count > 0 } }
                return true
            }
            summary.count += 1
            if refused { summary.refused += 1 }
            summary.last = failure
            all[key] = summary
            return false
        }
    }

    /// The windows that have closed and counted something, removed; windows without more failures are dropped.
    func due(window: Duration, all flushAll: Bool, now: ContinuousClock.Instant) -> [Summary] {
        windows.withLock { all in
            var due: [Summary] = []
            for (key, summary) in all where flushAll || now - summary.opened >= window || key.contains("#closed") {
                if summary.count > 0 { due.append(summary) }
                all[key] = nil
            }
            return due.sorted { $0.opened < $1.opened }
        }
    }
}

/// Writes the summaries of closed failure windows every second, and the rest at shutdown.
struct FailureSummaries: Service {
    let hook: AuthFailureHook

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                await hook.flush()
            }
        }
        await hook.flush(all: true)
    }
}

/// Concurrent calls for one name share the first one's work: the others wait for its result instead of doing the
/// same again. The work runs in a task of its own (bounded by its own deadline), so a caller that goes away does
/// not cancel it for the others.
final class SingleFlight<Value: Sendable>: Sendable {
    private let flights = Mutex<[String: Task<Value, Never>]>([:])
    private let counter = Mutex(0)

    /// How many times work was started (for tests).
    var started: Int { counter.withLock { $0 } }

    func run(_ name: String, _ work: @escaping @Sendable () async -> Value) async -> Value {
        let (task, own) = flights.withLock { flights -> (Task<Value, Never>, Bool) in
            if let running = flights[name] { return (running, false) }
            let task = Task { await work() }
            flights[name] = task
            return (task, true)
        }
        if own { counter.withLock { $0 += 1 } }
        let value = await task.value
        if own { flights.withLock { $0[name] = nil } }
        return value
    }
}
