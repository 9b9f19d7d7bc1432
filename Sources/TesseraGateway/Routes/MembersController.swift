import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// `/v1/orgs/{org}/members`: who belongs to the org, with which roles (the rules are `Membership`'s, shared
/// with the CLI).
struct MembersController: MetadataController {
    let client: PostgresClient
    let skipAuditForBenchmark: Bool
    let mailer: AccountMailer
    let baseLogger: Logger

    /// Made per request, so its lines carry the request's id.
    var membership: Membership {
        Membership(metadata: client, mailer: mailer, logger: logger, skipAudit: skipAuditForBenchmark)
    }

    func listMembers(_ input: Operations.listMembers.Input) async throws -> Operations.listMembers.Output {
        let (tenant, _) = try current()
        return .ok(.init(body: .json(.init(items: try await membership.list(org: tenant.orgID).map(Self.schema)))))
    }

    func addMember(_ input: Operations.addMember.Input) async throws -> Operations.addMember.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (tenant, principal) = try current()
        let added = try await membership.add(
            org: tenant.orgID, email: body.email, roles: body.roles, by: .principal(principal), actor: auditActor())
        return .created(
            .init(
                body: .json(
                    .init(member: Self.schema(added.member), user_created: added.userCreated, invited: added.invited))))
    }

    func setMemberRoles(_ input: Operations.setMemberRoles.Input) async throws -> Operations.setMemberRoles.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (tenant, principal) = try current()
        let member = try await membership.setRoles(
            org: tenant.orgID, user: try Self.objectID(input.path.user_id), roles: body.roles,
            by: .principal(principal), actor: auditActor())
        return .ok(.init(body: .json(Self.schema(member))))
    }

    func removeMember(_ input: Operations.removeMember.Input) async throws -> Operations.removeMember.Output {
        let (tenant, principal) = try current()
        try await membership.remove(
            org: tenant.orgID, user: try Self.objectID(input.path.user_id), by: .principal(principal),
            actor: auditActor())
        return .noContent(.init())
    }

    static func schema(_ member: MemberRecord) -> Components.Schemas.Member {
        .init(
            user_id: member.userID.uuidString.lowercased(), email: member.email, display_name: member.displayName,
            status: member.status, roles: member.roles, created_at: member.createdAt)
    }
}
