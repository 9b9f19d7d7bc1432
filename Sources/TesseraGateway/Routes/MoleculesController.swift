import Foundation
import Logging
import OpenAPIRuntime
import TesseraCore
import TesseraPostgres

/// `/v1/orgs/{org}/molecules`: seed 003's data catalog, molecule files registered from the org's artifacts.
struct MoleculesController: TenantController {
    let tenants: TenantDatabases
    let baseLogger: Logger

    func molecules() throws -> MoleculeRepository {
        MoleculeRepository(org: try Tenant.required().orgID, databases: tenants, logger: logger)
    }

    static let noSuchMolecule = TesseraError.notFound("no such molecule")

    func listMolecules(_ input: Operations.listMolecules.Input) async throws -> Operations.listMolecules.Output {
        let q = input.query
        let limit = try Self.pageLimit(q.limit)
        let after = try q.cursor.map(Self.nameCursor)
        let records = try await molecules().list(
            namePrefix: q.name_prefix, format: q.format?.rawValue, after: after, limit: limit + 1)
        let (page, next) = Self.page(records, limit: limit) { Self.nameCursor($0.name, $0.id) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func createMolecule(_ input: Operations.createMolecule.Input) async throws -> Operations.createMolecule.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let name = body.name.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(name.count),
            !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw TesseraError.badRequest("name: 1 to 200 characters, no control characters") }
        let record = try await molecules().create(
            name: name, format: body.format.rawValue,
            artifactID: try Self.reference(body.artifact_id, "artifact_id"), createdBy: Self.currentUserID,
            by: auditActor())
        return .created(.init(body: .json(Self.schema(record))))
    }

    func getMolecule(_ input: Operations.getMolecule.Input) async throws -> Operations.getMolecule.Output {
        guard let record = try await molecules().get(try Self.objectID(input.path.id)) else {
            throw Self.noSuchMolecule
        }
        return .ok(.init(body: .json(Self.schema(record))))
    }

    func deleteMolecule(_ input: Operations.deleteMolecule.Input) async throws -> Operations.deleteMolecule.Output {
        guard try await molecules().delete(try Self.objectID(input.path.id), by: auditActor()) else {
            throw Self.noSuchMolecule
        }
        return .noContent(.init())
    }

    /// A molecule's place in name order: its id and its name.
    static func nameCursor(_ name: String, _ id: UUID) -> String { "\(Self.id(id))_\(cursorText(name))" }

    static func nameCursor(_ raw: String) throws -> (String, UUID) {
        let parts = raw.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, let id = UUID(uuidString: String(parts[0])), let name = cursorText(decoding: parts[1])
        else { throw TesseraError.badRequest("cursor is not one this server gave") }
        return (name, id)
    }

    static func schema(_ m: MoleculeRecord) -> Components.Schemas.Molecule {
        .init(
            id: id(m.id), name: m.name, format: .init(rawValue: m.format) ?? .pdb, artifact_id: id(m.artifactID),
            size_bytes: m.sizeBytes, checksum: m.checksum, created_at: m.createdAt)
    }
}
