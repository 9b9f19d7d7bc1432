import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// An organisation with where its database lives.
public struct OrgRecord: Sendable, Equatable {
    public let id: UUID
    public let slug: String
    public let name: String
    public let status: OrgStatus
    public let statusReason: String?
    public let ownerUserID: UUID?
    public let requestedServer: String?
    public let server: String?
    public let schemaVersion: String?
    public let createdAt: Date
    public let quotas: OrgQuotas
}

/// One step of an org's provisioning journal.
public struct StepRecord: Sendable, Equatable {
    public let step: ProvisioningStep
    public let status: StepStatus
    public let attempts: Int
    public let startedAt: Date?
    public let finishedAt: Date?
    public let error: String?
}

/// Where an org's database is, with its role's sealed password.
public struct OrgPlacement: Sendable {
    public let org: UUID
    public let serverID: UUID
    public let name: OrgDatabaseName
    public let sealedPassword: [UInt8]
}

/// Organisations, their lifecycle and their provisioning journal, in the metadata database.
public struct OrgStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Creates an org in `provisioning` with every step pending; nil when the slug is taken.
    public func create(
        slug: String, name: String, owner: UUID?, server: String?, on connection: PostgresConnection
    ) async throws -> OrgRecord? {
        let rows = try await connection.sql(
            """
            INSERT INTO organizations (slug, name, owner_user_id, requested_server) VALUES (\(slug), \(name), \(owner), \(server))
            ON CONFLICT (slug) DO NOTHING RETURNING id
            """, logger: logger
        ).collect()
        guard let id = try rows.first?.decode(UUID.self) else { return nil }
        let steps = ProvisioningStep.allCases.map(\.rawValue)
        try await connection.sql(
            """
            INSERT INTO org_provisioning_steps (org_id, step, position)
            SELECT \(id), s.step, s.position::int FROM unnest(\(steps)::text[]) WITH ORDINALITY AS s(step, position)
            """, logger: logger)
        return try await get(id, on: connection)
    }

    /// The org's lifecycle status alone (the access check's look-up); nil when there is no such org.
    /// How many orgs `user` owns (not being deleted); locks the user's row for the caller's transaction.
    public func ownedCount(by user: UUID, on connection: PostgresConnection) async throws -> Int {
        try await connection.sql("SELECT 1 FROM users WHERE id = \(user) FOR UPDATE", logger: logger)
        return try await connection.sql(
            "SELECT count(*)::int FROM organizations WHERE owner_user_id = \(user) AND status <> 'deleting'",
            logger: logger
        ).collect()[0].decode(Int.self)
    }

    /// The org's quotas (none set when the org does not exist).
    public func quotas(_ org: UUID, on connection: PostgresConnection) async throws -> OrgQuotas {
        try await connection.sql("SELECT quotas::text FROM organizations WHERE id = \(org)", logger: logger)
            .collect().first.map { try OrgQuotas(json: try $0.decode(String.self)) } ?? OrgQuotas()
    }

    /// Replaces the org's quotas; false when there is no such org.
    public func setQuotas(_ org: UUID, _ quotas: OrgQuotas, on connection: PostgresConnection) async throws -> Bool {
        try await !connection.sql(
            "UPDATE organizations SET quotas = \(quotas.json)::jsonb WHERE id = \(org) RETURNING 1", logger: logger
        ).collect().isEmpty
    }

    public func status(of id: UUID, on connection: PostgresConnection) async throws -> OrgStatus? {
        let rows = try await connection.sql("SELECT status::text FROM organizations WHERE id = \(id)", logger: logger)
        return try await rows.collect().first.flatMap { OrgStatus(rawValue: try $0.decode(String.self)) }
    }

    public func get(_ id: UUID, on connection: PostgresConnection) async throws -> OrgRecord? {
        try await list(id: id, status: nil, after: nil, limit: 1, on: connection).first
    }

    /// Orgs by creation, optionally of one status, after a cursor (an org id).
    public func list(
        id: UUID? = nil, status: OrgStatus?, after cursor: UUID?, limit: Int, on connection: PostgresConnection
    ) async throws
        -> [OrgRecord]
    {
        let rows = try await connection.sql(
            """
            SELECT o.id, o.slug, o.name, o.status::text, o.status_reason, o.owner_user_id, o.requested_server, s.name,
                   d.schema_version, o.created_at, o.quotas::text
            FROM organizations o
            LEFT JOIN org_databases d ON d.org_id = o.id LEFT JOIN database_servers s ON s.id = d.server_id
            WHERE (\(id)::uuid IS NULL OR o.id = \(id)) AND (\(status?.rawValue)::text IS NULL OR o.status::text = \(status?.rawValue))
              AND (\(cursor)::uuid IS NULL OR (o.created_at, o.id) > (SELECT created_at, id FROM organizations WHERE id = \(cursor)))
            ORDER BY o.created_at, o.id LIMIT \(limit)
            """, logger: logger)
        var result: [OrgRecord] = []
        for try await row in rows {
            let (id, slug, name, status, reason, owner, requested, server, version, created, quotas) = try row.decode(
                (UUID, String, String, String, String?, UUID?, String?, String?, String?, Date, String).self)
            result.append(
                OrgRecord(
                    id: id, slug: slug, name: name, status: OrgStatus(rawValue: status) ?? .failed,
                    statusReason: reason,
                    ownerUserID: owner, requestedServer: requested, server: server, schemaVersion: version,
                    createdAt: created, quotas: try OrgQuotas(json: quotas)))
        }
        return result
    }

    public func steps(_ org: UUID, on connection: PostgresConnection) async throws -> [StepRecord] {
        let rows = try await connection.sql(
            """
            SELECT step, status::text, attempts, started_at, finished_at, error FROM org_provisioning_steps
            WHERE org_id = \(org) ORDER BY position
            """, logger: logger)
        var result: [StepRecord] = []
        for try await (step, status, attempts, started, finished, error) in rows.decode(
            (String, String, Int, Date?, Date?, String?).self)
        {
            guard let step = ProvisioningStep(rawValue: step), let status = StepStatus(rawValue: status) else {
                continue
            }
            result.append(
                StepRecord(
                    step: step, status: status, attempts: attempts, startedAt: started, finishedAt: finished,
                    error: error))
        }
        return result
    }

    public func beginStep(_ step: ProvisioningStep, org: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql(
            """
            UPDATE org_provisioning_steps SET status = 'running', attempts = attempts + 1, started_at = now(), finished_at = NULL, error = NULL
            WHERE org_id = \(org) AND step = \(step.rawValue)
            """, logger: logger)
    }

    public func finishStep(_ step: ProvisioningStep, org: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql(
            "UPDATE org_provisioning_steps SET status = 'done', finished_at = now() WHERE org_id = \(org) AND step = \(step.rawValue)",
            logger: logger)
    }

    /// Records the failure on the step and marks the org `failed` with the reason (call in a transaction).
    public func failStep(_ step: ProvisioningStep, org: UUID, reason: String, on connection: PostgresConnection)
        async throws
    {
        try await connection.sql(
            """
            UPDATE org_provisioning_steps SET status = 'failed', finished_at = now(), error = \(reason)
            WHERE org_id = \(org) AND step = \(step.rawValue)
            """, logger: logger)
        try await connection.sql(
            """
            UPDATE organizations SET status = 'failed', status_reason = \("step \(step.rawValue) failed: \(reason)")
            WHERE id = \(org) AND status = 'provisioning'
            """, logger: logger)
    }

    /// Records a failure that may pass on its own: the step is pending again with the reason and the org stays in
    /// `provisioning`; the provisioner takes the step again after `ProvisioningStep.retryDelay`.
    public func deferStep(_ step: ProvisioningStep, org: UUID, reason: String, on connection: PostgresConnection)
        async throws
    {
        try await connection.sql(
            """
            UPDATE org_provisioning_steps SET status = 'pending', finished_at = now(), error = \(reason)
            WHERE org_id = \(org) AND step = \(step.rawValue)
            """, logger: logger)
    }

    /// Puts a failed org back to provisioning, its failed step pending; false unless it was failed.
    public func retry(_ org: UUID, on connection: PostgresConnection) async throws -> Bool {
        try await connection.withTransaction(logger: logger) { tx in
            let rows = try await tx.sql(
                "UPDATE organizations SET status = 'provisioning', status_reason = NULL WHERE id = \(org) AND status = 'failed' RETURNING id",
                logger: logger
            ).collect()
            guard !rows.isEmpty else { return false }
            try await tx.sql(
                "UPDATE org_provisioning_steps SET status = 'pending', error = NULL WHERE org_id = \(org) AND status = 'failed'",
                logger: logger)
            return true
        }
    }

    public func setStatus(_ org: UUID, to status: OrgStatus, from: OrgStatus, on connection: PostgresConnection)
        async throws -> Bool
    {
        let rows = try await connection.sql(
            """
            UPDATE organizations SET status = \(status.rawValue)::org_status, status_reason = NULL
            WHERE id = \(org) AND status = \(from.rawValue)::org_status RETURNING id
            """, logger: logger)
        return try await !rows.collect().isEmpty
    }

    /// Orgs marked for purging (status `deleting`), oldest first.
    public func awaitingPurge(limit: Int, on connection: PostgresConnection) async throws -> [UUID] {
        try await connection.sql(
            "SELECT id FROM organizations WHERE status = 'deleting' AND purge_requested ORDER BY created_at LIMIT \(limit)",
            logger: logger
        ).collect().map { try $0.decode(UUID.self) }
    }

    /// Marks a suspended org for purging; false unless it was suspended.
    public func requestPurge(_ org: UUID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.sql(
            """
            UPDATE organizations SET status = 'deleting', purge_requested = true
            WHERE id = \(org) AND status = 'suspended' RETURNING id
            """, logger: logger)
        return try await !rows.collect().isEmpty
    }

    /// Removes the org's row and everything that hangs on it in the metadata database (roles, members,
    /// keys, journal); the audit log keeps its records.
    public func delete(_ org: UUID, on connection: PostgresConnection) async throws {
        // Rows that hold a role (RESTRICT, so no role is dropped from under a key or a member) go first.
        try await connection.sql("DELETE FROM membership_roles WHERE org_id = \(org)", logger: logger)
        try await connection.sql("DELETE FROM api_keys WHERE org_id = \(org)", logger: logger)
        try await connection.sql("DELETE FROM org_databases WHERE org_id = \(org)", logger: logger)
        try await connection.sql("DELETE FROM organizations WHERE id = \(org)", logger: logger)
    }

    /// Orgs a provisioner should work on, oldest first.
    public func awaitingProvisioning(limit: Int, on connection: PostgresConnection) async throws -> [UUID] {
        try await connection.sql(
            "SELECT id FROM organizations WHERE status = 'provisioning' ORDER BY created_at LIMIT \(limit)",
            logger: logger
        ).collect().map { try $0.decode(UUID.self) }
    }

    /// Records where the org's database goes and its role's sealed password (the first step, before
    /// anything exists on a server, so nothing is ever created that this journal does not name).
    public func place(
        _ org: UUID, server: UUID, name: OrgDatabaseName, sealedPassword: [UInt8], on connection: PostgresConnection
    )
        async throws
    {
        try await connection.sql(
            """
            INSERT INTO org_databases (org_id, server_id, database_name, role_name, password_ciphertext)
            VALUES (\(org), \(server), \(name.value), \(name.value), \(ByteBuffer(bytes: sealedPassword)))
            ON CONFLICT (org_id) DO NOTHING
            """, logger: logger)
    }

    public func placement(_ org: UUID, on connection: PostgresConnection) async throws -> OrgPlacement? {
        let rows = try await connection.sql(
            "SELECT server_id, database_name, password_ciphertext FROM org_databases WHERE org_id = \(org)",
            logger: logger)
        guard let row = try await rows.collect().first else { return nil }
        let (server, database, sealed) = try row.decode((UUID, String, ByteBuffer?).self)
        guard let name = OrgDatabaseName(existing: database), let sealed else { return nil }
        return OrgPlacement(org: org, serverID: server, name: name, sealedPassword: Array(buffer: sealed))
    }

    public func recordSchemaVersion(_ org: UUID, version: String?, on connection: PostgresConnection) async throws {
        try await connection.sql(
            "UPDATE org_databases SET schema_version = \(version), migrated_at = now() WHERE org_id = \(org)",
            logger: logger)
    }

    /// Every placed org database (for migrations and pools).
    public func placements(on connection: PostgresConnection) async throws -> [OrgPlacement] {
        let rows = try await connection.sql(
            "SELECT org_id, server_id, database_name, password_ciphertext FROM org_databases ORDER BY org_id",
            logger: logger)
        var result: [OrgPlacement] = []
        for try await (org, server, database, sealed) in rows.decode((UUID, UUID, String, ByteBuffer?).self) {
            if let name = OrgDatabaseName(existing: database), let sealed {
                result.append(
                    OrgPlacement(org: org, serverID: server, name: name, sealedPassword: Array(buffer: sealed)))
            }
        }
        return result
    }
}
