import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// A role of one org with its permissions.
public struct RoleRecord: Sendable, Equatable {
    public let id: UUID
    public let orgID: UUID
    public let name: String
    public let isSystem: Bool
    public let permissions: Set<Permission>
}

/// Roles and their permissions in the metadata database.
public struct RoleStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Creates the system roles (owner, admin, editor, viewer, auditor) of an org; idempotent.
    public func seedSystemRoles(org: UUID, on connection: PostgresConnection) async throws {
        for role in SystemRole.allCases {
            let permissions = role.permissions.map(\.rawValue).sorted()
            try await connection.sql(
                """
                WITH r AS (
                    INSERT INTO roles (org_id, name, description, is_system)
                    VALUES (\(org), \(role.rawValue), \(role.description), true)
                    ON CONFLICT (org_id, name) DO UPDATE SET is_system = true
                    RETURNING id
                )
                INSERT INTO role_permissions (role_id, permission)
                SELECT r.id, p FROM r, unnest(\(permissions)::text[]) AS p
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }

    /// The org's role of that name, with its permissions.
    public func role(named name: String, org: UUID, on connection: PostgresConnection) async throws -> RoleRecord? {
        try await roles(org: org, name: name, on: connection).first
    }

    public func role(id: UUID, org: UUID, on connection: PostgresConnection) async throws -> RoleRecord? {
        try await roles(org: org, id: id, on: connection).first
    }

    /// The org's roles (optionally only the one with that name or id), by name.
    public func roles(org: UUID, name: String? = nil, id: UUID? = nil, on connection: PostgresConnection) async throws
        -> [RoleRecord]
    {
        let rows = try await connection.sql(
            """
            SELECT r.id, r.org_id, r.name, r.is_system,
                   coalesce(array_agg(p.permission ORDER BY p.permission) FILTER (WHERE p.permission IS NOT NULL), '{}')
            FROM roles r LEFT JOIN role_permissions p ON p.role_id = r.id
            WHERE r.org_id = \(org) AND (\(name)::text IS NULL OR r.name = \(name)) AND (\(id)::uuid IS NULL OR r.id = \(id))
            GROUP BY r.id ORDER BY r.name
            """, logger: logger)
        var result: [RoleRecord] = []
        for try await (id, orgID, name, isSystem, permissions) in rows.decode((UUID, UUID, String, Bool, [String]).self)
        {
            result.append(
                RoleRecord(
                    id: id, orgID: orgID, name: name, isSystem: isSystem,
                    permissions: Set(permissions.compactMap(Permission.init(rawValue:)))))
        }
        return result
    }
}

extension RoleStore {
    /// Creates a custom role; nil when the org has a role of that name already.
    public func create(
        org: UUID, name: String, description: String?, permissions: Set<Permission>, on connection: PostgresConnection
    ) async throws -> RoleRecord? {
        let rows = try await connection.sql(
            """
            INSERT INTO roles (org_id, name, description, is_system) VALUES (\(org), \(name), \(description), false)
            ON CONFLICT (org_id, name) DO NOTHING RETURNING id
            """, logger: logger
        ).collect()
        guard let id = try rows.first?.decode(UUID.self) else { return nil }
        try await connection.sql(
            "INSERT INTO role_permissions (role_id, permission) SELECT \(id), unnest(\(permissions.map(\.rawValue).sorted())::text[])",
            logger: logger)
        return try await role(id: id, org: org, on: connection)
    }

    public enum DeleteOutcome: Sendable, Equatable {
        case deleted, notFound, system, inUse
    }

    /// Deletes a custom role that no key and no member holds or held.
    public func delete(org: UUID, id: UUID, on connection: PostgresConnection) async throws -> DeleteOutcome {
        guard let role = try await role(id: id, org: org, on: connection) else { return .notFound }
        if role.isSystem { return .system }
        // Keys keep their role after revocation, for the record: a role any key ever held stays.
        let used = try await connection.sql(
            """
            SELECT EXISTS (SELECT 1 FROM api_keys WHERE role_id = \(id))
                OR EXISTS (SELECT 1 FROM membership_roles WHERE role_id = \(id))
            """, logger: logger
        ).collect()[0].decode(Bool.self)
        if used { return .inUse }
        try await connection.sql("DELETE FROM roles WHERE org_id = \(org) AND id = \(id)", logger: logger)
        return .deleted
    }
}
