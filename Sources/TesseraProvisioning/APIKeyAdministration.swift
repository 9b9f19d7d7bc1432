import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// An org's API keys — issue, revoke, rotate — written once for the HTTP API and the `tessera` CLI: a key
/// carries one role the grantor could grant, its plaintext exists only in the answer, and each change commits
/// with its audit record.
public struct APIKeyAdministration: Sendable {
    let metadata: PostgresClient
    let logger: Logger
    let skipAudit: Bool

    public init(metadata: PostgresClient, logger: Logger, skipAudit: Bool = false) {
        self.metadata = metadata
        self.logger = logger
        self.skipAudit = skipAudit
    }

    /// A new key named `name` with the role `role`, expiring at `expiresAt` (never when nil).
    public func create(
        org: UUID, name rawName: String, role: String, expiresAt: Date?, by grantor: Grantor, actor: AuditActor
    ) async throws -> (APIKeyRecord, APIKey) {
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.count) else { throw TesseraError.unprocessable("name must be 1–200 characters") }
        if let expiresAt, expiresAt <= Date() { throw TesseraError.unprocessable("expires_at must be in the future") }
        return try await metadata.auditedChange(logger: logger, skipAudit: skipAudit) { [self] connection, trail in
            let role = try await Membership.grantableRoles(
                named: [role], org: org, by: grantor, on: connection, logger: logger)[0]
            try await checkKeyQuota(org, on: connection)
            let (record, key) = try await APIKeyStore(logger: logger).create(
                org: org, name: name, roleID: role.id, expiresAt: expiresAt, createdBy: grantor.principal,
                on: connection)
            try await trail.append(
                actor.event(
                    org: org, action: .apiKeyCreate, entityType: "api_key", entityID: Membership.id(record.id),
                    metadata: ["name": name, "role": role.name, "prefix": key.displayPrefix]))
            return (record, key)
        }
    }

    public func list(org: UUID, after cursor: UUID?, limit: Int) async throws -> [APIKeyRecord] {
        try await metadata.withConnection { [logger] in
            try await APIKeyStore(logger: logger).list(org: org, after: cursor, limit: limit, on: $0)
        }
    }

    public func get(org: UUID, id: UUID) async throws -> APIKeyRecord {
        guard
            let key = try await metadata.withConnection({ [logger] in
                try await APIKeyStore(logger: logger).get(org: org, id: id, on: $0)
            })
        else { throw TesseraError.notFound("no such API key") }
        return key
    }

    /// Revokes the key at once (404 when the org has no such key).
    /// Revokes a key, when the grantor could grant its role (nobody revokes a key that holds more than they do:
    /// an editor cannot cut off the owner's automation).
    public func revoke(org: UUID, id: UUID, by grantor: Grantor, actor: AuditActor) async throws -> APIKeyRecord {
        try await metadata.auditedChange(logger: logger, skipAudit: skipAudit) { [logger] connection, trail in
            let store = APIKeyStore(logger: logger)
            guard let key = try await store.get(org: org, id: id, on: connection) else {
                throw TesseraError.notFound("no such API key")
            }
            _ = try await Membership.grantableRoles(
                named: [key.roleName], org: org, by: grantor, on: connection, logger: logger)
            guard let revoked = try await store.revoke(org: org, id: id, on: connection) else {
                throw TesseraError.notFound("no such API key")
            }
            try await trail.append(
                actor.event(
                    org: org, action: .apiKeyRevoke, entityType: "api_key", entityID: Membership.id(id),
                    metadata: ["prefix": "\(APIKey.scheme)_\(revoked.prefix)"]))
            return revoked
        }
    }

    /// A replacement key with the same name and role; the old one keeps working for `grace` seconds (0–604800).
    public func rotate(org: UUID, id: UUID, grace: Int, by grantor: Grantor, actor: AuditActor) async throws
        -> (APIKeyRecord, APIKey)
    {
        guard (0...604_800).contains(grace) else { throw TesseraError.unprocessable("grace_seconds must be 0–604800") }
        return try await metadata.auditedChange(logger: logger, skipAudit: skipAudit) { [self] connection, trail in
            let store = APIKeyStore(logger: logger)
            guard let old = try await store.get(org: org, id: id, on: connection) else {
                throw TesseraError.notFound("no such API key")
            }
            // Rotating re-issues the key's role: the grantor must be able to grant it.
            _ = try await Membership.grantableRoles(
                named: [old.roleName], org: org, by: grantor, on: connection, logger: logger)
            try await checkKeyQuota(org, on: connection)  // the old key lives on through its grace
            guard
                let rotated = try await store.rotate(
                    org: org, id: id, grace: grace, createdBy: grantor.principal, on: connection)
            else { throw TesseraError.conflict("only a live key that was not rotated before can be rotated") }
            try await trail.append(
                actor.event(
                    org: org, action: .apiKeyRotate, entityType: "api_key", entityID: Membership.id(id),
                    metadata: ["replaced_by": Membership.id(rotated.0.id), "grace_seconds": String(grace)]))
            return rotated
        }
    }

    /// 409 when one more live key would pass the org's quota (the org's row locked: one check at a time).
    func checkKeyQuota(_ org: UUID, on connection: PostgresConnection) async throws {
        let quotas = try await OrgStore(logger: logger).quotas(org, on: connection)
        guard quotas[.apiKeys] != nil else { return }
        try await MemberStore(logger: logger).lockOrg(org, on: connection)
        try quotas.check(.apiKeys, used: try await APIKeyStore(logger: logger).liveCount(org: org, on: connection))
    }
}
