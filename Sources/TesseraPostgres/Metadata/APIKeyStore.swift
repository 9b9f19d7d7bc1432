import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// What authentication needs to know about a key, found by its prefix.
public struct StoredCredential: Sendable {
    public let keyID: UUID
    public let prefix: String
    public let orgID: UUID?
    public let platformAdmin: Bool
    public let keyHash: [UInt8]
    public let permissions: Set<Permission>
    public let expiresAt: Date?
    public let revokedAt: Date?
    public let orgStatus: OrgStatus?
}

/// An org's API key as listed (never its secret).
public struct APIKeyRecord: Sendable, Equatable {
    public let id: UUID
    public let orgID: UUID
    public let name: String
    public let prefix: String
    public let roleName: String
    public let expiresAt: Date?
    public let revokedAt: Date?
    public let lastUsedAt: Date?
    public let createdAt: Date
    public let createdByKeyID: UUID?
    public let createdByUserID: UUID?
    public let rotatedTo: UUID?
}

/// API keys in the metadata database. Org-scoped methods take the org from the resolved tenant.
public struct APIKeyStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func credential(prefix: String, on connection: PostgresConnection) async throws -> StoredCredential? {
        let rows = try await connection.sql(
            """
            SELECT k.id, k.prefix, k.org_id, k.platform_admin, k.key_hash, k.expires_at, k.revoked_at, o.status::text,
                   coalesce((SELECT array_agg(p.permission) FROM role_permissions p WHERE p.role_id = k.role_id), '{}')
            FROM api_keys k LEFT JOIN organizations o ON o.id = k.org_id
            WHERE k.prefix = \(prefix)
            """, logger: logger)
        for try await (id, prefix, org, platform, hash, expires, revoked, status, permissions) in rows.decode(
            (UUID, String, UUID?, Bool, ByteBuffer, Date?, Date?, String?, [String]).self)
        {
            return StoredCredential(
                keyID: id, prefix: prefix, orgID: org, platformAdmin: platform, keyHash: Array(buffer: hash),
                permissions: Set(permissions.compactMap(Permission.init(rawValue:))),
                expiresAt: expires, revokedAt: revoked, orgStatus: status.flatMap(OrgStatus.init(rawValue:)))
        }
        return nil
    }

    /// The org's live keys (neither revoked nor expired).
    public func liveCount(org: UUID, on connection: PostgresConnection) async throws -> Int {
        try await connection.sql(
            """
            SELECT count(*)::int FROM api_keys
            WHERE org_id = \(org) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
            """, logger: logger
        ).collect()[0].decode(Int.self)
    }

    /// Creates a key for `org` with `roleID`; returns the record and the key (its plaintext exists only here).
    public func create(
        org: UUID, name: String, roleID: UUID, expiresAt: Date?, createdBy: Principal?,
        on connection: PostgresConnection
    ) async throws -> (APIKeyRecord, APIKey) {
        let key = APIKey.generate()
        let (byKey, byUser) = Self.creator(createdBy)
        let rows = try await connection.sql(
            """
            INSERT INTO api_keys (org_id, prefix, key_hash, name, role_id, expires_at, created_by_key_id, created_by_user_id)
            VALUES (\(org), \(key.prefix), \(ByteBuffer(bytes: key.digest)), \(name), \(roleID), \(expiresAt), \(byKey), \(byUser))
            RETURNING id
            """, logger: logger)
        guard let id = try await rows.collect().first?.decode(UUID.self),
            let record = try await get(org: org, id: id, on: connection)
        else { throw TesseraError.internalError }
        return (record, key)
    }

    public func get(org: UUID, id: UUID, on connection: PostgresConnection) async throws -> APIKeyRecord? {
        try await list(org: org, id: id, after: nil, limit: 1, on: connection).first
    }

    /// Keys of `org`, newest first, after the cursor (a key id) when given.
    public func list(org: UUID, after cursor: UUID?, limit: Int, on connection: PostgresConnection) async throws
        -> [APIKeyRecord]
    {
        try await list(org: org, id: nil, after: cursor, limit: limit, on: connection)
    }

    private func list(org: UUID, id: UUID?, after cursor: UUID?, limit: Int, on connection: PostgresConnection)
        async throws
        -> [APIKeyRecord]
    {
        let rows = try await connection.sql(
            """
            SELECT k.id, k.org_id, k.name, k.prefix, r.name, k.expires_at, k.revoked_at, k.last_used_at, k.created_at,
                   k.created_by_key_id, k.created_by_user_id, k.rotated_to
            FROM api_keys k JOIN roles r ON r.id = k.role_id
            WHERE k.org_id = \(org) AND (\(id)::uuid IS NULL OR k.id = \(id))
              AND (\(cursor)::uuid IS NULL OR (k.created_at, k.id) < (SELECT created_at, id FROM api_keys WHERE id = \(cursor) AND org_id = \(org)))
            ORDER BY k.created_at DESC, k.id DESC
            LIMIT \(limit)
            """, logger: logger)
        var result: [APIKeyRecord] = []
        for try await row in rows {
            let (id, org, name, prefix, role, expires, revoked, lastUsed, created, byKey, byUser, rotated) =
                try row.decode(
                    (UUID, UUID, String, String, String, Date?, Date?, Date?, Date, UUID?, UUID?, UUID?).self)
            result.append(
                APIKeyRecord(
                    id: id, orgID: org, name: name, prefix: prefix, roleName: role, expiresAt: expires,
                    revokedAt: revoked,
                    lastUsedAt: lastUsed, createdAt: created, createdByKeyID: byKey, createdByUserID: byUser,
                    rotatedTo: rotated))
        }
        return result
    }

    /// Sets the tombstone (once; a revoked key stays revoked). Returns nil when the org has no such key.
    public func revoke(org: UUID, id: UUID, on connection: PostgresConnection) async throws -> APIKeyRecord? {
        try await connection.sql(
            "UPDATE api_keys SET revoked_at = now() WHERE org_id = \(org) AND id = \(id) AND revoked_at IS NULL",
            logger: logger)
        return try await get(org: org, id: id, on: connection)
    }

    /// Replaces a live key by a new one with the same org, role and name; the old key stays valid for
    /// `grace` seconds (0: revoked at once). Call inside a transaction.
    public func rotate(
        org: UUID, id: UUID, grace: Int, createdBy: Principal?, on connection: PostgresConnection
    ) async throws -> (APIKeyRecord, APIKey)? {
        let rows = try await connection.sql(
            """
            SELECT name, role_id, expires_at FROM api_keys
            WHERE org_id = \(org) AND id = \(id) AND revoked_at IS NULL AND rotated_to IS NULL
              AND (expires_at IS NULL OR expires_at > now())
            FOR UPDATE
            """, logger: logger)
        guard let (name, roleID, expiresAt) = try await rows.collect().first?.decode((String, UUID, Date?).self) else {
            return nil
        }
        let (record, key) = try await create(
            org: org, name: name, roleID: roleID, expiresAt: expiresAt, createdBy: createdBy, on: connection)
        if grace == 0 {
            try await connection.sql(
                "UPDATE api_keys SET revoked_at = now(), rotated_to = \(record.id) WHERE id = \(id)", logger: logger)
        } else {
            try await connection.sql(
                """
                UPDATE api_keys SET rotated_to = \(record.id),
                    expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => \(grace)))
                WHERE id = \(id)
                """, logger: logger)
        }
        return (record, key)
    }

    /// Stamps `last_used_at` for a batch of keys (called off the request path).
    public func touch(_ ids: [UUID], at time: Date, on connection: PostgresConnection) async throws {
        guard !ids.isEmpty else { return }
        try await connection.sql(
            "UPDATE api_keys SET last_used_at = greatest(last_used_at, \(time)) WHERE id = ANY(\(ids))", logger: logger)
    }

    /// Who made a key: a key, a user, or neither (the operator at the command line).
    static func creator(_ principal: Principal?) -> (keyID: UUID?, userID: UUID?) {
        guard let principal else { return (nil, nil) }
        return switch principal.kind {
        case .platformAdmin(let id), .apiKey(let id): (id, nil)
        case .user(let id, _): (nil, id)
        }
    }
}
