import Foundation
import HTTPTypes
import Logging
import PostgresNIO
import TesseraPostgres
import Testing

@testable import TesseraCore

/// Two ready orgs with system roles and keys of several kinds, made straight in the metadata database.
struct AccessFixture: Sendable {
    let orgA: UUID
    let orgB: UUID
    let platform: APIKey
    let ownerA: APIKey
    let adminA: APIKey
    let viewerA: APIKey
    let auditorA: APIKey
    let revokedA: APIKey
    let expiredA: APIKey
    let adminB: APIKey
    let platformPrincipal: Principal

    static let logger = TestDatabase.logger

    static func make(_ settings: Settings) async throws -> AccessFixture {
        try await settings.database.withConnection(as: .admin, logger: logger) { connection in
            guard
                case .created(let platform) = try await PlatformAdminKeys(logger: logger).bootstrap(
                    by: .commandLine(osUser: "test"), on: connection),
                let platformID = try await APIKeyStore(logger: logger).credential(
                    prefix: platform.prefix, on: connection)?.keyID
            else { throw TesseraError.internalError }
            let principal = Principal(
                kind: .platformAdmin(keyID: platformID), display: platform.displayPrefix, grants: [:])
            let orgA = try await makeOrg("org-a", on: connection)
            let orgB = try await makeOrg("org-b", on: connection)
            func key(_ org: UUID, _ role: SystemRole, expires: Date? = nil) async throws -> APIKey {
                let roleID = try await RoleStore(logger: logger).role(named: role.rawValue, org: org, on: connection)!
                    .id
                return try await APIKeyStore(logger: logger).create(
                    org: org, name: "\(role.rawValue) key", roleID: roleID, expiresAt: expires, createdBy: principal,
                    on: connection
                ).1
            }
            let revoked = try await key(orgA, .admin)
            try await connection.query(
                "UPDATE api_keys SET revoked_at = now() WHERE prefix = \(revoked.prefix)", logger: logger)
            return AccessFixture(
                orgA: orgA, orgB: orgB, platform: platform,
                ownerA: try await key(orgA, .owner), adminA: try await key(orgA, .admin),
                viewerA: try await key(orgA, .viewer), auditorA: try await key(orgA, .auditor),
                revokedA: revoked, expiredA: try await key(orgA, .admin, expires: Date().addingTimeInterval(-60)),
                adminB: try await key(orgB, .admin), platformPrincipal: principal)
        }
    }

    /// The platform admin key of a fresh metadata database.
    static func platformKey(_ settings: Settings) async throws -> APIKey {
        try await settings.database.withConnection(as: .admin, logger: logger) { connection in
            guard
                case .created(let key) = try await PlatformAdminKeys(logger: logger).bootstrap(
                    by: .commandLine(osUser: "test"), on: connection)
            else {
                throw TesseraError.internalError
            }
            return key
        }
    }

    static func makeOrg(_ slug: String, status: OrgStatus = .ready, on connection: PostgresConnection) async throws
        -> UUID
    {
        let rows = try await connection.query(
            "INSERT INTO organizations (slug, name, status) VALUES (\(slug), \(slug), \(status.rawValue)::org_status) RETURNING id",
            logger: logger)
        let id = try await rows.collect()[0].decode(UUID.self)
        try await RoleStore(logger: logger).seedSystemRoles(org: id, on: connection)
        return id
    }

    /// A key with `key`'s prefix and a different secret whose checksum is right: only the database can tell.
    static func wrongSecret(for key: APIKey) -> String {
        let secret = String(repeating: "Z", count: 43)
        return "tsk_\(key.prefix)_\(secret)\(APIKey.checksum(prefix: key.prefix, secret: secret))"
    }

    static func bearer(_ token: String) -> HTTPFields {
        [.authorization: "Bearer \(token)"]
    }
}
