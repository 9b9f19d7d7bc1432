import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// `/v1/orgs/{org}/api-keys`: issue, list, show, revoke and rotate an org's keys (the rules are
/// `APIKeyAdministration`'s, shared with the CLI).
struct APIKeysController: MetadataController {
    let client: PostgresClient
    let skipAuditForBenchmark: Bool
    let baseLogger: Logger

    /// Made per request, so its lines carry the request's id.
    var keys: APIKeyAdministration {
        APIKeyAdministration(metadata: client, logger: logger, skipAudit: skipAuditForBenchmark)
    }

    func createAPIKey(_ input: Operations.createAPIKey.Input) async throws -> Operations.createAPIKey.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (tenant, principal) = try current()
        let (issued, key) = try await keys.create(
            org: tenant.orgID, name: body.name, role: body.role, expiresAt: body.expires_at, by: .principal(principal),
            actor: auditActor())
        return .created(.init(body: .json(.init(key: key.plaintext, api_key: Self.schema(issued)))))
    }

    func listAPIKeys(_ input: Operations.listAPIKeys.Input) async throws -> Operations.listAPIKeys.Output {
        let (tenant, _) = try current()
        let limit = try Self.pageLimit(input.query.limit)
        let records = try await keys.list(
            org: tenant.orgID, after: try Self.cursor(input.query.cursor), limit: limit + 1)
        let (page, next) = Self.page(records, limit: limit) { Self.id($0.id) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func getAPIKey(_ input: Operations.getAPIKey.Input) async throws -> Operations.getAPIKey.Output {
        let (tenant, _) = try current()
        return .ok(
            .init(body: .json(Self.schema(try await keys.get(org: tenant.orgID, id: try Self.objectID(input.path.id)))))
        )
    }

    func revokeAPIKey(_ input: Operations.revokeAPIKey.Input) async throws -> Operations.revokeAPIKey.Output {
        let (tenant, principal) = try current()
        let revoked = try await keys.revoke(
            org: tenant.orgID, id: try Self.objectID(input.path.id), by: .principal(principal), actor: auditActor())
        return .ok(.init(body: .json(Self.schema(revoked))))
    }

    func rotateAPIKey(_ input: Operations.rotateAPIKey.Input) async throws -> Operations.rotateAPIKey.Output {
        let (tenant, principal) = try current()
        var grace = 0
        if case .json(let body) = input.body, let seconds = body.grace_seconds { grace = seconds }
        let (replacement, key) = try await keys.rotate(
            org: tenant.orgID, id: try Self.objectID(input.path.id), grace: grace, by: .principal(principal),
            actor: auditActor())
        return .created(.init(body: .json(.init(key: key.plaintext, api_key: Self.schema(replacement)))))
    }

    static func schema(_ record: APIKeyRecord) -> Components.Schemas.APIKey {
        let status: Components.Schemas.APIKey.statusPayload =
            record.revokedAt != nil ? .revoked : (record.expiresAt.map { $0 <= Date() } == true ? .expired : .active)
        return .init(
            id: record.id.uuidString.lowercased(), org_id: record.orgID.uuidString.lowercased(), name: record.name,
            prefix: "\(APIKey.scheme)_\(record.prefix)", role: record.roleName, status: status,
            expires_at: record.expiresAt, revoked_at: record.revokedAt, last_used_at: record.lastUsedAt,
            created_at: record.createdAt, rotated_to: record.rotatedTo?.uuidString.lowercased())
    }
}
