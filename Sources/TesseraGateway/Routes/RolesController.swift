import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// `/v1/orgs/{org}/roles`: the org's system roles and its own.
struct RolesController: MetadataController {
    let client: PostgresClient
    let skipAuditForBenchmark: Bool
    let baseLogger: Logger

    func listRoles(_ input: Operations.listRoles.Input) async throws -> Operations.listRoles.Output {
        let (tenant, _) = try current()
        let roles = try await client.withConnection {
            try await RoleStore(logger: logger).roles(org: tenant.orgID, on: $0)
        }
        return .ok(.init(body: .json(.init(items: roles.map(Self.schema)))))
    }

    func createRole(_ input: Operations.createRole.Input) async throws -> Operations.createRole.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (tenant, principal) = try current()
        guard body.name.range(of: "^[a-z][a-z0-9_-]{0,62}$", options: .regularExpression) != nil else {
            throw TesseraError.unprocessable(
                "a role name is 1–63 lower-case letters, digits, _ or -, starting with a letter")
        }
        if let description = body.description, description.count > 500 {
            throw TesseraError.unprocessable("description is longer than 500 characters")
        }
        let permissions: Set<Permission>
        switch Permission.parse(body.permissions) {
        case .success(let parsed): permissions = parsed
        case .failure(let unknown):
            throw TesseraError.unprocessable(
                "unknown permission '\(unknown.name)'; known: \(Permission.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        try Grantor.principal(principal).requireHolds(permissions, in: tenant.orgID, to: "create this role")
        let created = try await change { connection, trail -> RoleRecord? in
            guard
                let role = try await RoleStore(logger: logger).create(
                    org: tenant.orgID, name: body.name, description: body.description, permissions: permissions,
                    on: connection)
            else { return nil }
            try await trail.append(
                audit(
                    .roleCreate, org: tenant.orgID, entityType: "role", entityID: role.id,
                    metadata: [
                        "name": role.name,
                        "permissions": role.permissions.map(\.rawValue).sorted().joined(separator: ","),
                    ]))
            return role
        }
        guard let role = created else { throw TesseraError.conflict("the org has a role named '\(body.name)' already") }
        return .created(.init(body: .json(Self.schema(role))))
    }

    func deleteRole(_ input: Operations.deleteRole.Input) async throws -> Operations.deleteRole.Output {
        let (tenant, _) = try current()
        let id = try Self.objectID(input.path.id)
        let outcome = try await change { connection, trail -> RoleStore.DeleteOutcome in
            let outcome = try await RoleStore(logger: logger).delete(org: tenant.orgID, id: id, on: connection)
            if outcome == .deleted {
                try await trail.append(audit(.roleDelete, org: tenant.orgID, entityType: "role", entityID: id))
            }
            return outcome
        }
        switch outcome {
        case .deleted: return .noContent(.init())
        case .notFound: throw TesseraError.notFound("no such role")
        case .system: throw TesseraError.conflict("system roles cannot be deleted")
        case .inUse: throw TesseraError.conflict("a key or a member holds (or held) this role; it stays for the record")
        }
    }

    static func schema(_ role: RoleRecord) -> Components.Schemas.Role {
        .init(
            id: role.id.uuidString.lowercased(), name: role.name, description: nil, system: role.isSystem,
            permissions: role.permissions.map(\.rawValue).sorted())
    }
}
