import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Who grants: a principal, who grants at most the permissions it holds in the org, or the operator at the
/// command line, who may grant any role.
public enum Grantor: Sendable {
    case principal(Principal)
    case commandLine

    var principal: Principal? {
        if case .principal(let principal) = self { return principal }
        return nil
    }

    /// The user behind the grantor, if a user.
    var userID: UUID? {
        if case .principal(let principal) = self, case .user(let id, _) = principal.kind { return id }
        return nil
    }

    /// 403 unless the grantor holds every one of `permissions` in `org`.
    public func requireHolds(_ permissions: Set<Permission>, in org: UUID, to what: String) throws {
        guard case .principal(let principal) = self else { return }
        let excess = permissions.subtracting(principal.permissions(in: org) ?? [])
        guard excess.isEmpty else {
            throw TesseraError.forbidden(
                "to \(what) you would need \(excess.map(\.rawValue).sorted().joined(separator: ", ")); nobody grants more than they hold"
            )
        }
    }
}

/// An org's members and their roles, written once for the HTTP API and the `tessera` CLI: every change is
/// serialised per org, keeps a last owner, grants nothing beyond what the grantor holds, and commits with its
/// audit record.
public struct Membership: Sendable {
    let metadata: PostgresClient
    let mailer: AccountMailer
    let logger: Logger
    let skipAudit: Bool

    public init(metadata: PostgresClient, mailer: AccountMailer, logger: Logger, skipAudit: Bool = false) {
        self.metadata = metadata
        self.mailer = mailer
        self.logger = logger
        self.skipAudit = skipAudit
    }

    public func list(org: UUID) async throws -> [MemberRecord] {
        try await metadata.withConnection { [logger] in try await MemberStore(logger: logger).list(org: org, on: $0) }
    }

    /// What `add` did.
    public struct Added: Sendable {
        public let member: MemberRecord
        public let userCreated: Bool
        /// An invitation went to their mailbox (they have no password yet); else a notice did.
        public let invited: Bool
    }

    /// Adds the user of `email` (created if new) with `roles`. Nobody sets another person's password: a user
    /// without one is mailed an invitation, one with a password a notice.
    public func add(org: UUID, email rawEmail: String, roles names: [String], by grantor: Grantor, actor: AuditActor)
        async throws -> Added
    {
        let email = try EmailAddress.validated(rawEmail)
        return try await metadata.auditedChange(logger: logger, skipAudit: skipAudit) { [self] connection, trail in
            let members = MemberStore(logger: logger)
            try await members.lockOrg(org, on: connection)
            let roles = try await Self.grantableRoles(
                named: names, org: org, by: grantor, on: connection, logger: logger)
            try await OrgStore(logger: logger).quotas(org, on: connection).check(
                .members, used: try await members.count(org: org, on: connection))
            let users = UserStore(logger: logger)
            let (user, created) = try await users.findOrCreate(email: email, passwordHash: nil, on: connection)
            guard
                try await members.add(
                    org: org, user: user, roles: roles.map(\.id), invitedBy: grantor.userID, on: connection)
            else { throw TesseraError.conflict("\(email) is a member already; change their roles with PUT") }
            let member = try await member(user, org: org, on: connection)
            try await trail.append(
                actor.event(
                    org: org, action: .memberAdd, entityType: "user", entityID: Self.id(user),
                    metadata: [
                        "email": email, "roles": member.roles.joined(separator: ","), "user_created": String(created),
                    ]))
            let invited = try await mailer.queueMembership(
                user: user, email: email, org: org, roles: member.roles, by: actor, logger: logger, on: connection,
                trail: trail)
            return Added(member: member, userCreated: created, invited: invited)
        }
    }

    /// Replaces the member's roles (never taking the last owner's ownership away).
    public func setRoles(org: UUID, user: UUID, roles names: [String], by grantor: Grantor, actor: AuditActor)
        async throws -> MemberRecord
    {
        try await metadata.auditedChange(logger: logger, skipAudit: skipAudit) { [self] connection, trail in
            let members = MemberStore(logger: logger)
            try await members.lockOrg(org, on: connection)
            let existing = try await changeableMember(user, org: org, by: grantor, on: connection)
            let roles = try await Self.grantableRoles(
                named: names, org: org, by: grantor, on: connection, logger: logger)
            if existing.roles.contains(SystemRole.owner.rawValue),
                !roles.contains(where: { $0.isSystem && $0.name == SystemRole.owner.rawValue })
            {
                try await requireAnotherOwner(besides: user, org: org, on: connection)
            }
            _ = try await members.setRoles(org: org, user: user, roles: roles.map(\.id), on: connection)
            let member = try await member(user, org: org, on: connection)
            try await trail.append(
                actor.event(
                    org: org, action: .memberUpdate, entityType: "user", entityID: Self.id(user),
                    metadata: [
                        "roles": member.roles.joined(separator: ","),
                        "previous_roles": existing.roles.joined(separator: ","),
                    ]))
            return member
        }
    }

    /// Removes the member (never the last owner).
    public func remove(org: UUID, user: UUID, by grantor: Grantor, actor: AuditActor) async throws {
        try await metadata.auditedChange(logger: logger, skipAudit: skipAudit) { [self] connection, trail in
            let members = MemberStore(logger: logger)
            try await members.lockOrg(org, on: connection)
            let existing = try await changeableMember(user, org: org, by: grantor, on: connection)
            if existing.roles.contains(SystemRole.owner.rawValue) {
                try await requireAnotherOwner(besides: user, org: org, on: connection)
            }
            _ = try await members.remove(org: org, user: user, on: connection)
            try await trail.append(
                actor.event(
                    org: org, action: .memberRemove, entityType: "user", entityID: Self.id(user),
                    metadata: ["email": existing.email, "roles": existing.roles.joined(separator: ",")]))
        }
    }

    /// The org's roles of these names, refused when together they hold a permission the grantor does not.
    static func grantableRoles(
        named names: [String], org: UUID, by grantor: Grantor, on connection: PostgresConnection, logger: Logger
    ) async throws -> [RoleRecord] {
        guard !names.isEmpty else { throw TesseraError.unprocessable("give at least one role") }
        let all = try await RoleStore(logger: logger).roles(org: org, on: connection)
        let roles = try Set(names).sorted().map { name in
            guard let role = all.first(where: { $0.name == name }) else {
                throw TesseraError.unprocessable("the org has no role named '\(name)'")
            }
            return role
        }
        try grantor.requireHolds(
            roles.reduce(into: Set<Permission>()) { $0.formUnion($1.permissions) }, in: org, to: "grant these roles")
        return roles
    }

    /// The member, when the grantor holds every permission the member's roles give (else 403).
    func changeableMember(_ user: UUID, org: UUID, by grantor: Grantor, on connection: PostgresConnection)
        async throws -> MemberRecord
    {
        guard let member = try await MemberStore(logger: logger).list(org: org, user: user, on: connection).first else {
            throw TesseraError.notFound("no such member")
        }
        let roles = try await RoleStore(logger: logger).roles(org: org, on: connection).filter {
            member.roles.contains($0.name)
        }
        try grantor.requireHolds(
            roles.reduce(into: Set<Permission>()) { $0.formUnion($1.permissions) }, in: org, to: "change this member")
        return member
    }

    func requireAnotherOwner(besides user: UUID, org: UUID, on connection: PostgresConnection) async throws {
        guard try await MemberStore(logger: logger).otherOwners(org: org, excluding: user, on: connection) > 0 else {
            throw TesseraError.conflict("this is the org's last owner: make someone else owner first")
        }
    }

    func member(_ user: UUID, org: UUID, on connection: PostgresConnection) async throws -> MemberRecord {
        guard let member = try await MemberStore(logger: logger).list(org: org, user: user, on: connection).first else {
            throw TesseraError.internalError
        }
        return member
    }

    static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }
}
