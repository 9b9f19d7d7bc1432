import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// An artifact: a named blob in the org's artifact store, known by its SHA-256 (blobs are content-addressed, so
/// two artifacts with the same bytes share one blob).
public struct ArtifactRecord: Sendable, Equatable {
    public let id: UUID
    public let name: String
    public let contentType: String
    public let sizeBytes: Int
    public let sha256: [UInt8]
    public let createdBy: UUID?
    public let createdAt: Date
}

/// Artifacts of one org, in that org's own database; their bytes live in the artifact store, which this
/// repository drives through the closures it is handed, under a lock per blob in the org's database
/// (`AdvisoryLock.artifactBlob`), so a blob is never removed while another artifact is being made of it.
public struct ArtifactRepository: Sendable {
    public let org: UUID
    let databases: TenantDatabases
    let logger: Logger

    public init(org: UUID, databases: TenantDatabases, logger: Logger) {
        self.org = org
        self.databases = databases
        self.logger = logger
    }

    /// Oldest first, after the artifact `cursor`.
    public func list(after cursor: UUID?, limit: Int) async throws -> [ArtifactRecord] {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                """
                SELECT id, name, content_type, size_bytes, sha256, created_by, created_at FROM artifacts
                WHERE \(cursor)::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM artifacts WHERE id = \(cursor))
                ORDER BY created_at, id LIMIT \(limit)
                """, logger: logger
            ).collect().map(Self.record)
        }
    }

    public func get(_ id: UUID) async throws -> ArtifactRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                """
                SELECT id, name, content_type, size_bytes, sha256, created_by, created_at FROM artifacts
                WHERE id = \(id)
                """, logger: logger
            ).collect().first.map(Self.record)
        }
    }

    /// The bytes counted against the org's `artifact_bytes` quota now (artifacts and job output files), so an
    /// upload can be refused while it arrives rather than after.
    public func usedBytes() async throws -> Int {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await OrgQuotaCheck.artifactBytesUsed(on: connection, logger: logger)
        }
    }

    /// Records an artifact of a blob the caller has put in the store (before, outside any transaction: an upload
    /// to an object store may take minutes), with its `artifact.create` record in one transaction. Under the
    /// blob's lock, after the quota check, `ensurePlaced` puts the blob back should a deletion of the last artifact
    /// of the same bytes have removed it meanwhile. When the transaction fails, `discard` takes the blob, under
    /// its lock, unless an artifact refers to it.
    public func create(
        name: String, contentType: String, sizeBytes: Int, sha256: [UInt8], createdBy: UUID?, quotas: OrgQuotas,
        by actor: AuditActor, ensurePlaced: @escaping @Sendable () async throws -> Void,
        discard: @escaping @Sendable () async -> Void
    ) async throws -> ArtifactRecord {
        do {
            return try await databases.change(org: org, logger: logger) { [logger] tx, trail in
                try await Self.lock(sha256, on: tx, logger: logger)
                try await OrgQuotaCheck.check(.artifactBytes, quotas, adding: sizeBytes, on: tx, logger: logger)
                try await ensurePlaced()
                let record = try await tx.sql(
                    """
                    INSERT INTO artifacts (name, content_type, size_bytes, sha256, created_by)
                    VALUES (\(name), \(contentType), \(sizeBytes), \(ByteBuffer(bytes: sha256)), \(createdBy))
                    RETURNING id, name, content_type, size_bytes, sha256, created_by, created_at
                    """, logger: logger
                ).collect().map(Self.record)[0]
                try await trail.record(
                    .artifactCreate, by: actor, entityType: "artifact", entityID: record.id,
                    metadata: ["name": name, "size_bytes": String(sizeBytes), "sha256": sha256.hexString])
                return record
            }
        } catch {
            try? await discardIfUnreferenced(sha256, discard)
            throw error
        }
    }

    private func discardIfUnreferenced(_ sha256: [UInt8], _ discard: @escaping @Sendable () async -> Void)
        async throws
    {
        try await databases.withTransaction(org: org, logger: logger) { [logger] tx in
            try await Self.lock(sha256, on: tx, logger: logger)
            if try await Self.references(sha256, on: tx, logger: logger) == 0 { await discard() }
        }
    }

    /// Deletes the artifact with its `artifact.delete` record (409 while a molecule or a docking pose is its file);
    /// once that has committed, `remove` takes the blob,
    /// under its lock, unless another artifact of the org has the same bytes. False when there is no such artifact.
    /// A process that stops in between leaves a blob nothing refers to, never an artifact without its blob.
    public func delete(_ id: UUID, by actor: AuditActor, remove: @escaping @Sendable ([UInt8]) async -> Void)
        async throws -> Bool
    {
        let deleted = try await databases.change(org: org, logger: logger) { [logger] tx, trail -> [UInt8]? in
            let (molecules, poses) = try await tx.sql(
                """
                SELECT (SELECT count(*) FROM molecules WHERE artifact_id = \(id))::int8,
                       (SELECT count(*) FROM docking_results WHERE pose_artifact_id = \(id))::int8
                """, logger: logger
            ).collect()[0].decode((Int, Int).self)
            guard molecules + poses == 0 else {
                let uses = [(molecules, "molecule"), (poses, "docking pose")].filter { $0.0 > 0 }
                    .map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")" }
                throw TesseraError.conflict("the artifact is the file of \(uses.joined(separator: " and "))")
            }
            guard
                let (name, digest) = try await tx.sql(
                    "DELETE FROM artifacts WHERE id = \(id) RETURNING name, sha256", logger: logger
                ).collect().first?.decode((String, ByteBuffer).self)
            else { return nil }
            try await trail.record(
                .artifactDelete, by: actor, entityType: "artifact", entityID: id, metadata: ["name": name])
            return Array(buffer: digest)
        }
        guard let sha256 = deleted else { return false }
        try? await discardIfUnreferenced(sha256) { await remove(sha256) }
        return true
    }

    static func lock(_ sha256: [UInt8], on tx: PostgresConnection, logger: Logger) async throws {
        let object = sha256.prefix(4).reduce(Int32(0)) { ($0 << 8) | Int32($1) }
        try await tx.sql("SELECT pg_advisory_xact_lock(\(AdvisoryLock.artifactBlob), \(object))", logger: logger)
    }

    static func references(_ sha256: [UInt8], on tx: PostgresConnection, logger: Logger) async throws -> Int {
        try await tx.sql(
            "SELECT count(*)::int8 FROM artifacts WHERE sha256 = \(ByteBuffer(bytes: sha256))", logger: logger
        )
        .collect()[0].decode(Int.self)
    }

    static func record(_ row: PostgresRow) throws -> ArtifactRecord {
        let (id, name, contentType, size, digest, createdBy, createdAt) = try row.decode(
            (UUID, String, String, Int, ByteBuffer, UUID?, Date).self)
        let sha256 = Array(buffer: digest)
        return ArtifactRecord(
            id: id, name: name, contentType: contentType, sizeBytes: size, sha256: sha256, createdBy: createdBy,
            createdAt: createdAt)
    }
}
