import Foundation
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/orgs/{org}/members`: who belongs to the org, with which roles. Every change is serialised per org
/// (the last owner stays), and nobody changes a member or grants a role beyond what they hold.
extension APIHandler {
    func listMembers(_ input: Operations.listMembers.Input) async throws -> Operations.listMembers.Output {
        let (tenant, _) = try current()
        let members = try await client.withConnection {
            try await MemberStore(logger: logger).list(org: tenant.orgID, on: $0)
        }
        return .ok(.init(body: .json(.init(items: members.map(Self.schema)))))
    }

    func addMember(_ input: Operations.addMember.Input) async throws -> Operations.addMember.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (tenant, principal) = try current()
        let email = try EmailAddress.validated(body.email)
        var passwordHash: String?
        if let password = body.password {
            try AccessServices.checkStrength(password)
            passwordHash = try await access.hash(password)
        }
        let info = RequestScope.info
        let (member, created, invitation) = try await client.withTransaction(logger: logger) { connection in
            let members = MemberStore(logger: logger)
            try await members.lockOrg(tenant.orgID, on: connection)
            let roles = try await grantableRoles(
                named: body.roles, tenant: tenant, principal: principal, on: connection)
            let users = UserStore(logger: logger)
            let (user, created) = try await users.findOrCreate(email: email, passwordHash: passwordHash, on: connection)
            guard
                try await members.add(
                    org: tenant.orgID, user: user, roles: roles.map(\.id), invitedBy: Self.userID(of: principal),
                    on: connection)
            else { throw TesseraError.conflict("\(email) is a member already; change their roles with PUT") }
            var invitation: SessionToken?
            if created && passwordHash == nil {
                invitation = try await users.issueToken(
                    user: user, kind: "invitation", lifetime: .seconds(7 * 24 * 3600), org: tenant.orgID,
                    clientIP: nil, userAgent: info.userAgent, on: connection
                ).token
            }
            guard let member = try await members.list(org: tenant.orgID, user: user, on: connection).first else {
                throw TesseraError.internalError
            }
            try await record(
                audit(
                    .memberAdd, org: tenant.orgID, entityType: "user", entityID: user,
                    metadata: [
                        "email": email, "roles": member.roles.joined(separator: ","), "user_created": String(created),
                    ]),
                on: connection)
            return (member, created, invitation)
        }
        return .created(
            .init(
                body: .json(
                    .init(
                        member: Self.schema(member), user_created: created, invitation_token: invitation?.plaintext))))
    }

    func setMemberRoles(_ input: Operations.setMemberRoles.Input) async throws -> Operations.setMemberRoles.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (tenant, principal) = try current()
        let user = try Self.objectID(input.path.user_id)
        let member = try await client.withTransaction(logger: logger) { connection in
            let members = MemberStore(logger: logger)
            try await members.lockOrg(tenant.orgID, on: connection)
            let existing = try await changeableMember(user, tenant: tenant, principal: principal, on: connection)
            let roles = try await grantableRoles(
                named: body.roles, tenant: tenant, principal: principal, on: connection)
            if existing.roles.contains(SystemRole.owner.rawValue),
                !roles.contains(where: { $0.isSystem && $0.name == SystemRole.owner.rawValue })
            {
                try await requireAnotherOwner(besides: user, tenant: tenant, on: connection)
            }
            _ = try await members.setRoles(org: tenant.orgID, user: user, roles: roles.map(\.id), on: connection)
            guard let member = try await members.list(org: tenant.orgID, user: user, on: connection).first else {
                throw TesseraError.internalError
            }
            try await record(
                audit(
                    .memberUpdate, org: tenant.orgID, entityType: "user", entityID: user,
                    metadata: [
                        "roles": member.roles.joined(separator: ","),
                        "previous_roles": existing.roles.joined(separator: ","),
                    ]),
                on: connection)
            return member
        }
        return .ok(.init(body: .json(Self.schema(member))))
    }

    func removeMember(_ input: Operations.removeMember.Input) async throws -> Operations.removeMember.Output {
        let (tenant, principal) = try current()
        let user = try Self.objectID(input.path.user_id)
        try await client.withTransaction(logger: logger) { connection in
            let members = MemberStore(logger: logger)
            try await members.lockOrg(tenant.orgID, on: connection)
            let existing = try await changeableMember(user, tenant: tenant, principal: principal, on: connection)
            if existing.roles.contains(SystemRole.owner.rawValue) {
                try await requireAnotherOwner(besides: user, tenant: tenant, on: connection)
            }
            _ = try await members.remove(org: tenant.orgID, user: user, on: connection)
            try await record(
                audit(
                    .memberRemove, org: tenant.orgID, entityType: "user", entityID: user,
                    metadata: ["email": existing.email, "roles": existing.roles.joined(separator: ",")]),
                on: connection)
        }
        return .noContent(.init())
    }

    /// The member, when the caller holds every permission the member's roles give (else 403).
    func changeableMember(_ user: UUID, tenant: Tenant, principal: Principal, on connection: PostgresConnection)
        async throws
        -> MemberRecord
    {
        guard
            let member = try await MemberStore(logger: logger).list(org: tenant.orgID, user: user, on: connection).first
        else {
            throw TesseraError.notFound("no such member")
        }
        let roles = try await RoleStore(logger: logger).roles(org: tenant.orgID, on: connection).filter {
            member.roles.contains($0.name)
        }
        try Self.requireHolds(
            roles.reduce(into: Set<Permission>()) { $0.formUnion($1.permissions) }, principal, tenant,
            "change this member")
        return member
    }

    func requireAnotherOwner(besides user: UUID, tenant: Tenant, on connection: PostgresConnection) async throws {
        guard try await MemberStore(logger: logger).otherOwners(org: tenant.orgID, excluding: user, on: connection) > 0
        else {
            throw TesseraError.conflict("this is the org's last owner: make someone else owner first")
        }
    }

    /// The org's roles of these names, refused when together they hold a permission the principal does not.
    func grantableRoles(named names: [String], tenant: Tenant, principal: Principal, on connection: PostgresConnection)
        async throws
        -> [RoleRecord]
    {
        guard !names.isEmpty else { throw TesseraError.unprocessable("give at least one role") }
        let all = try await RoleStore(logger: logger).roles(org: tenant.orgID, on: connection)
        let roles = try Set(names).sorted().map { name in
            guard let role = all.first(where: { $0.name == name }) else {
                throw TesseraError.unprocessable("the org has no role named '\(name)'")
            }
            return role
        }
        try Self.requireHolds(
            roles.reduce(into: Set<Permission>()) { $0.formUnion($1.permissions) }, principal, tenant,
            "grant these roles")
        return roles
    }

    /// 403 unless the principal holds every one of `permissions` in the tenant.
    static func requireHolds(_ permissions: Set<Permission>, _ principal: Principal, _ tenant: Tenant, _ what: String)
        throws
    {
        let excess = permissions.subtracting(principal.permissions(in: tenant.orgID) ?? [])
        guard excess.isEmpty else {
            throw TesseraError.forbidden(
                "to \(what) you would need \(excess.map(\.rawValue).sorted().joined(separator: ", ")); nobody grants more than they hold"
            )
        }
    }

    static func userID(of principal: Principal) -> UUID? {
        if case .user(let id, _) = principal.kind { return id }
        return nil
    }

    static func schema(_ member: MemberRecord) -> Components.Schemas.Member {
        .init(
            user_id: member.userID.uuidString.lowercased(), email: member.email, display_name: member.displayName,
            status: member.status, roles: member.roles, created_at: member.createdAt)
    }
}
