import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// A member of an org: the user and the org's roles they hold.
public struct MemberRecord: Sendable, Equatable {
    public let userID: UUID
    public let email: String
    public let displayName: String?
    public let status: String
    public let roles: [String]
    public let createdAt: Date
}

/// Memberships and their roles, always within one org.
public struct MemberStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func list(org: UUID, user: UUID? = nil, on connection: PostgresConnection) async throws -> [MemberRecord] {
        let rows = try await connection.sql(
            """
            SELECT u.id, u.email, u.display_name, m.status::text,
                   coalesce(array_agg(r.name ORDER BY r.name) FILTER (WHERE r.name IS NOT NULL), '{}'), m.created_at
            FROM memberships m JOIN users u ON u.id = m.user_id
            LEFT JOIN membership_roles mr ON mr.membership_id = m.id
            LEFT JOIN roles r ON r.id = mr.role_id
            WHERE m.org_id = \(org) AND (\(user)::uuid IS NULL OR m.user_id = \(user))
            GROUP BY u.id, m.id ORDER BY u.email
            """, logger: logger)
        var result: [MemberRecord] = []
        for try await (id, email, name, status, roles, created) in rows.decode(
            (UUID, String, String?, String, [String], Date).self)
        {
            result.append(
                MemberRecord(
                    userID: id, email: email, displayName: name, status: status, roles: roles, createdAt: created))
        }
        return result
    }

    /// Serialises membership changes of one org (last-owner checks stay true under concurrency).
    public func count(org: UUID, on connection: PostgresConnection) async throws -> Int {
        try await connection.sql("SELECT count(*)::int FROM memberships WHERE org_id = \(org)", logger: logger)
            .collect()[0].decode(Int.self)
    }

    public func lockOrg(_ org: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql("SELECT 1 FROM organizations WHERE id = \(org) FOR UPDATE", logger: logger)
    }

    /// Adds the user to the org with these roles; false when already a member.
    public func add(org: UUID, user: UUID, roles: [UUID], invitedBy: UUID?, on connection: PostgresConnection)
        async throws -> Bool
    {
        let rows = try await connection.sql(
            """
            INSERT INTO memberships (org_id, user_id, invited_by) VALUES (\(org), \(user), \(invitedBy))
            ON CONFLICT (org_id, user_id) DO NOTHING RETURNING id
            """, logger: logger
        ).collect()
        guard let membership = try rows.first?.decode(UUID.self) else { return false }
        try await setRoles(org: org, membership: membership, roles: roles, on: connection)
        return true
    }

    /// Replaces a member's roles; false when the user is no member of the org.
    public func setRoles(org: UUID, user: UUID, roles: [UUID], on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.sql(
            "SELECT id FROM memberships WHERE org_id = \(org) AND user_id = \(user)", logger: logger
        ).collect()
        guard let membership = try rows.first?.decode(UUID.self) else { return false }
        try await setRoles(org: org, membership: membership, roles: roles, on: connection)
        return true
    }

    private func setRoles(org: UUID, membership: UUID, roles: [UUID], on connection: PostgresConnection) async throws {
        try await connection.sql("DELETE FROM membership_roles WHERE membership_id = \(membership)", logger: logger)
        try await connection.sql(
            """
            INSERT INTO membership_roles (membership_id, role_id, org_id)
            SELECT \(membership), r, \(org) FROM unnest(\(roles)::uuid[]) AS r
            """, logger: logger)
    }

    public func remove(org: UUID, user: UUID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.sql(
            "DELETE FROM memberships WHERE org_id = \(org) AND user_id = \(user) RETURNING id", logger: logger)
        return try await !rows.collect().isEmpty
    }

    /// Active members holding the owner role, other than `user`.
    public func otherOwners(org: UUID, excluding user: UUID, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.sql(
            """
            SELECT count(DISTINCT m.user_id)::int FROM memberships m
            JOIN membership_roles mr ON mr.membership_id = m.id
            JOIN roles r ON r.id = mr.role_id
            WHERE m.org_id = \(org) AND m.status = 'active' AND r.name = 'owner' AND r.is_system AND m.user_id <> \(user)
            """, logger: logger)
        return try await rows.collect()[0].decode(Int.self)
    }
}
