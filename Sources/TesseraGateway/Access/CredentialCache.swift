import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TesseraCore
import TesseraPostgres

/// Verified-key and session look-ups kept for a few seconds. Every gateway process empties entries the moment the
/// database announces a change (`NOTIFY tessera_auth`), so revocations apply everywhere at once;
/// the time-to-live only bounds staleness while the listener reconnects.
final class CredentialCache: Sendable {
    /// A cached look-up: an API key (by its prefix) or a session (by `session:<digest hex>`), with the
    /// principal it makes when it verifies.
    enum Credential {
        case key(StoredCredential, Principal?)
        case session(SessionCredential)
    }

    struct Entry {
        let credential: Credential
        let fetched: ContinuousClock.Instant
    }

    let ttl: Duration
    private let entries = Mutex<[String: Entry]>([:])
    private let orgs = Mutex<[UUID: (OrgStatus, ContinuousClock.Instant)]>([:])

    init(ttl: Duration) {
        self.ttl = ttl
    }

    func get(_ name: String) -> Credential? {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[name] else { return nil }
            if now - entry.fetched > ttl {
                entries[name] = nil
                return nil
            }
            return entry.credential
        }
    }

    func put(_ credential: Credential, as name: String) {
        let entry = Entry(credential: credential, fetched: .now)
        entries.withLock { $0[name] = entry }
    }

    /// Applies a `tessera_auth` payload: `key:<prefix>` drops that key, anything else drops all.
    func apply(notification payload: String) {
        if payload.hasPrefix("key:") {
            let prefix = String(payload.dropFirst(4))
            entries.withLock { $0[prefix] = nil }
        } else {
            removeAll()
        }
    }

    func removeAll() {
        entries.withLock { $0.removeAll() }
        orgs.withLock { $0.removeAll() }
    }

    func orgStatus(_ org: UUID) -> OrgStatus? {
        let now = ContinuousClock.now
        return orgs.withLock { orgs in
            guard let (status, fetched) = orgs[org], now - fetched <= ttl else { return nil }
            return status
        }
    }

    func putOrgStatus(_ status: OrgStatus, for org: UUID) {
        let now = ContinuousClock.now
        orgs.withLock { $0[org] = (status, now) }
    }
}
