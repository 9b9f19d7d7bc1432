import Foundation
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/orgs/{org}/api-keys`: issue, list, show, revoke and rotate an org's keys.
extension APIHandler {
    func createAPIKey(_ input: Operations.createAPIKey.Input) async throws -> Operations.createAPIKey.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (tenant, principal) = try current()
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.count) else { throw TesseraError.unprocessable("name must be 1–200 characters") }
        if let expires = body.expires_at, expires <= Date() {
            throw TesseraError.unprocessable("expires_at must be in the future")
        }
        let (issued, key) = try await client.withTransaction(logger: logger) { connection in
            let role = try await grantableRole(named: body.role, tenant: tenant, principal: principal, on: connection)
            let created = try await APIKeyStore(logger: logger).create(
                org: tenant.orgID, name: name, roleID: role.id, expiresAt: body.expires_at, createdBy: principal,
                on: connection)
            try await record(
                audit(
                    .apiKeyCreate, org: tenant.orgID, entityType: "api_key", entityID: created.0.id,
                    metadata: ["name": name, "role": role.name, "prefix": created.1.displayPrefix]),
                on: connection)
            return created
        }
        return .created(.init(body: .json(.init(key: key.plaintext, api_key: Self.schema(issued)))))
    }

    func listAPIKeys(_ input: Operations.listAPIKeys.Input) async throws -> Operations.listAPIKeys.Output {
        let (tenant, _) = try current()
        let limit = try Self.pageLimit(input.query.limit)
        let cursor = try Self.cursor(input.query.cursor)
        let records = try await client.withConnection { connection in
            try await APIKeyStore(logger: logger).list(
                org: tenant.orgID, after: cursor, limit: limit + 1, on: connection)
        }
        let page = records.prefix(limit)
        let next = records.count > limit ? page.last.map { Self.id($0.id) } : nil
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func getAPIKey(_ input: Operations.getAPIKey.Input) async throws -> Operations.getAPIKey.Output {
        let (tenant, _) = try current()
        let id = try Self.objectID(input.path.id)
        guard
            let key = try await client.withConnection({ connection in
                try await APIKeyStore(logger: logger).get(org: tenant.orgID, id: id, on: connection)
            })
        else { throw TesseraError.notFound("no such API key") }
        return .ok(.init(body: .json(Self.schema(key))))
    }

    func revokeAPIKey(_ input: Operations.revokeAPIKey.Input) async throws -> Operations.revokeAPIKey.Output {
        let (tenant, _) = try current()
        let id = try Self.objectID(input.path.id)
        let revoked = try await client.withTransaction(logger: logger) { connection -> APIKeyRecord? in
            guard let revoked = try await APIKeyStore(logger: logger).revoke(org: tenant.orgID, id: id, on: connection)
            else { return nil }
            try await record(
                audit(
                    .apiKeyRevoke, org: tenant.orgID, entityType: "api_key", entityID: id,
                    metadata: ["prefix": "tsk_\(revoked.prefix)"]),
                on: connection)
            return revoked
        }
        guard let revoked else { throw TesseraError.notFound("no such API key") }
        return .ok(.init(body: .json(Self.schema(revoked))))
    }

    func rotateAPIKey(_ input: Operations.rotateAPIKey.Input) async throws -> Operations.rotateAPIKey.Output {
        let (tenant, principal) = try current()
        let id = try Self.objectID(input.path.id)
        var grace = 0
        if case .json(let body) = input.body, let seconds = body.grace_seconds {
            guard (0...604_800).contains(seconds) else {
                throw TesseraError.unprocessable("grace_seconds must be 0–604800")
            }
            grace = seconds
        }
        let rotated = try await client.withTransaction(logger: logger) { connection -> (APIKeyRecord, APIKey)? in
            let store = APIKeyStore(logger: logger)
            guard let old = try await store.get(org: tenant.orgID, id: id, on: connection) else {
                throw TesseraError.notFound("no such API key")
            }
            // Rotating re-issues the key's role: the caller must be able to grant it.
            _ = try await grantableRole(named: old.roleName, tenant: tenant, principal: principal, on: connection)
            guard
                let rotated = try await store.rotate(
                    org: tenant.orgID, id: id, grace: grace, createdBy: principal, on: connection)
            else {
                return nil
            }
            try await record(
                audit(
                    .apiKeyRotate, org: tenant.orgID, entityType: "api_key", entityID: id,
                    metadata: ["replaced_by": Self.id(rotated.0.id), "grace_seconds": String(grace)]),
                on: connection)
            return rotated
        }
        guard let (replacement, key) = rotated else {
            throw TesseraError.conflict("only a live key that was not rotated before can be rotated")
        }
        return .created(.init(body: .json(.init(key: key.plaintext, api_key: Self.schema(replacement)))))
    }

    /// The org's role of that name, refused when it holds a permission the principal does not.
    func grantableRole(named name: String, tenant: Tenant, principal: Principal, on connection: PostgresConnection)
        async throws
        -> RoleRecord
    {
        try await grantableRoles(named: [name], tenant: tenant, principal: principal, on: connection)[0]
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

extension APIHandler {
    /// The tenant and principal the access middleware resolved for this request.
    func current() throws -> (Tenant, Principal) {
        guard let principal = RequestScope.principal else { throw TesseraError.internalError }
        return (try Tenant.required(), principal)
    }
}
