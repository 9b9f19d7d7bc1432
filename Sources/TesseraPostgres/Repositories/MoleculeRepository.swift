import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// A registered molecule file (seed 003's data catalog): its bytes are an artifact of the org.
public struct MoleculeRecord: Sendable, Equatable {
    public let id: UUID
    public let name: String
    /// pdb, sdf, pdbqt or mol2.
    public let format: String
    public let artifactID: UUID
    public let sizeBytes: Int64
    /// The artifact's SHA-256, lower-case hex.
    public let checksum: String
    public let createdAt: Date

    public static let formats = ["pdb", "sdf", "pdbqt", "mol2"]
}

/// One org's molecules, in its own database beside the artifacts that hold their bytes.
public struct MoleculeRepository: Sendable {
    public let org: UUID
    let databases: TenantDatabases
    let logger: Logger

    public init(org: UUID, databases: TenantDatabases, logger: Logger) {
        self.org = org
        self.databases = databases
        self.logger = logger
    }

    static let columns = "id, name, format, artifact_id, size_bytes, checksum, created_at"

    /// Registers the artifact `artifactID` as a molecule file, with its `molecule.create` record; 422 when the
    /// org has no such artifact (one deleted meanwhile fails the foreign key: a 409).
    public func create(name: String, format: String, artifactID: UUID, createdBy: UUID?, by actor: AuditActor)
        async throws -> MoleculeRecord
    {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            guard
                let (size, digest) = try await tx.sql(
                    "SELECT size_bytes, sha256 FROM artifacts WHERE id = \(artifactID)", logger: logger
                ).collect().first?.decode((Int64, ByteBuffer).self)
            else {
                throw TesseraError.unprocessable(
                    "artifact_id: the org has no artifact \(artifactID.uuidString.lowercased())")
            }
            let record = try await tx.sql(
                """
                INSERT INTO molecules (name, format, artifact_id, size_bytes, checksum, created_by)
                VALUES (\(name), \(format), \(artifactID), \(size), \(Array(buffer: digest).hexString), \(createdBy))
                RETURNING \(unescaped: Self.columns)
                """, logger: logger
            ).collect()[0]
            let molecule = try Self.record(record)
            try await trail.record(
                .moleculeCreate, by: actor, entityType: "molecule", entityID: molecule.id,
                metadata: ["name": name, "format": format, "artifact_id": artifactID.uuidString.lowercased()])
            return molecule
        }
    }

    /// A page of molecules by name (then id) after the cursor, narrowed by a name prefix and a format.
    public func list(namePrefix: String?, format: String?, after: (String, UUID)?, limit: Int) async throws
        -> [MoleculeRecord]
    {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            let (afterName, afterID) = (after?.0, after?.1)
            return try await connection.sql(
                """
                SELECT \(unescaped: Self.columns) FROM molecules
                WHERE (\(namePrefix)::text IS NULL OR starts_with(name, \(namePrefix)::text))
                  AND (\(format)::text IS NULL OR format = \(format)::text)
                  AND (\(afterName)::text IS NULL OR (name, id) > (\(afterName)::text, \(afterID)::uuid))
                ORDER BY name, id LIMIT \(limit)
                """, logger: logger
            ).collect().map(Self.record)
        }
    }

    public func get(_ id: UUID) async throws -> MoleculeRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT \(unescaped: Self.columns) FROM molecules WHERE id = \(id)", logger: logger
            ).collect().first.map(Self.record)
        }
    }

    /// Unregisters the molecule with its `molecule.delete` record (its artifact stays); false when there is none.
    public func delete(_ id: UUID, by actor: AuditActor) async throws -> Bool {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            guard
                let name = try await tx.sql(
                    "DELETE FROM molecules WHERE id = \(id) RETURNING name", logger: logger
                ).collect().first?.decode(String.self)
            else { return false }
            try await trail.record(
                .moleculeDelete, by: actor, entityType: "molecule", entityID: id, metadata: ["name": name])
            return true
        }
    }

    static func record(_ row: PostgresRow) throws -> MoleculeRecord {
        let (id, name, format, artifact, size, checksum, created) = try row.decode(
            (UUID, String, String, UUID, Int64, String, Date).self)
        return MoleculeRecord(
            id: id, name: name, format: format, artifactID: artifact, sizeBytes: size, checksum: checksum,
            createdAt: created)
    }
}

/// One docking pose of a job (seed 003's docking_results).
public struct DockingResultRecord: Sendable, Equatable {
    public let ligand: String
    public let poseRank: Int
    public let affinity: Double
    public let rmsd: Double?
    public let moleculeID: UUID?
    public let poseArtifactID: UUID?
    public let executionID: UUID?
    /// JSON text.
    public let metadata: String
    public let createdAt: Date
}

extension JobRepository {
    /// A page of the job's poses, best affinity first (then ligand, rank) after the cursor; nil when there is no
    /// such job.
    public func dockingResults(
        _ job: UUID, ligand: String?, moleculeID: UUID?, maxAffinity: Double?, bestOnly: Bool,
        after: (affinity: Double, ligand: String, rank: Int)?, limit: Int
    ) async throws -> [DockingResultRecord]? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard try await Self.exists(job, on: connection, logger: logger) else { return nil }
            let (afterAffinity, afterLigand, afterRank) = (after?.affinity, after?.ligand, after?.rank)
            return try await connection.sql(
                """
                SELECT ligand, pose_rank, affinity, rmsd, molecule_id, pose_artifact_id, task_execution_id,
                       metadata::text, created_at
                FROM docking_results
                WHERE job_id = \(job) AND (\(ligand)::text IS NULL OR ligand = \(ligand)::text)
                  AND (\(moleculeID)::uuid IS NULL OR molecule_id = \(moleculeID)::uuid)
                  AND (\(maxAffinity)::float8 IS NULL OR affinity <= \(maxAffinity)::float8)
                  AND (NOT \(bestOnly) OR pose_rank = 1)
                  AND (\(afterAffinity)::float8 IS NULL
                       OR (affinity, ligand, pose_rank) > (\(afterAffinity)::float8, \(afterLigand)::text, \(afterRank)::int4))
                ORDER BY affinity, ligand, pose_rank LIMIT \(limit)
                """, logger: logger
            ).collect().map { row in
                let (ligand, rank, affinity, rmsd, molecule, pose, execution, metadata, created) = try row.decode(
                    (String, Int, Double, Double?, UUID?, UUID?, UUID?, String, Date).self)
                return DockingResultRecord(
                    ligand: ligand, poseRank: rank, affinity: affinity, rmsd: rmsd, moleculeID: molecule,
                    poseArtifactID: pose, executionID: execution, metadata: metadata, createdAt: created)
            }
        }
    }
}
