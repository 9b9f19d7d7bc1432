import Foundation
import Logging
import PostgresNIO
import TesseraCore

public struct DatasetRecord: Sendable, Equatable {
    public let id: UUID
    public let name: String
    public let description: String?
    public let rowCount: Int
    public let fields: [String]
    public let createdAt: Date
}

/// One row of a dataset; `content` as the JSON text stored.
public struct DatasetRowRecord: Sendable, Equatable {
    public let id: UUID
    public let position: Int
    public let content: String
    public let expected: String?
    public let createdAt: Date
}

/// Datasets of one org, in that org's own database. Made for one org: no method takes an org, so none
/// can reach another's rows.
public struct DatasetRepository: Sendable {
    public let org: UUID
    let databases: TenantDatabases
    let logger: Logger

    public init(org: UUID, databases: TenantDatabases, logger: Logger) {
        self.org = org
        self.databases = databases
        self.logger = logger
    }

    public func list(after cursor: UUID?, limit: Int) async throws -> [DatasetRecord] {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            let rows = try await connection.sql(
                """
                SELECT id, name, description, row_count, fields, created_at FROM datasets
                WHERE \(cursor)::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM datasets WHERE id = \(cursor))
                ORDER BY created_at, id LIMIT \(limit)
                """, logger: logger)
            var result: [DatasetRecord] = []
            for try await row in rows {
                result.append(try Self.record(row))
            }
            return result
        }
    }

    /// Creates a dataset, with its audit event in the same transaction (the outbox); nil when the org has one
    /// of that name.
    public func create(name: String, description: String?, fields: [String], createdBy: UUID?, by actor: AuditActor)
        async throws
        -> DatasetRecord?
    {
        let event = actor.event(org: org, action: .datasetCreate, metadata: ["name": name])
        return try await databases.audited(org: org, event, entityType: "dataset", logger: logger) { [logger] tx in
            let rows = try await tx.sql(
                """
                INSERT INTO datasets (name, description, fields, created_by) VALUES (\(name), \(description), \(fields), \(createdBy))
                ON CONFLICT (name) DO NOTHING
                RETURNING id, name, description, row_count, fields, created_at
                """, logger: logger
            ).collect()
            return try rows.first.map(Self.record).map { ($0, $0.id.uuidString.lowercased()) }
        }
    }

    public func get(_ id: UUID) async throws -> DatasetRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT id, name, description, row_count, fields, created_at FROM datasets WHERE id = \(id)",
                logger: logger
            ).collect().first.map(Self.record)
        }
    }

    /// Appends the rows `next` hands out, batch after batch until it returns nil, in one transaction: all or
    /// nothing (an error from `next`, a quota passed, rolls back every batch). The rows imported and the
    /// dataset's row count after; nil when there is no such dataset. No rows: nothing written, no record.
    public func importRows(
        dataset: UUID, quotas: OrgQuotas = OrgQuotas(), by actor: AuditActor,
        batches next: @escaping @Sendable () async throws -> [ImportedRow]?
    ) async throws -> (imported: Int, rowCount: Int)? {
        try await databases.change(org: org, logger: logger) { [org, logger] tx, trail -> (Int, Int)? in
            guard
                let start = try await tx.sql(
                    "SELECT row_count FROM datasets WHERE id = \(dataset) FOR UPDATE", logger: logger
                ).collect().first?.decode(Int.self)
            else { return nil }
            var position = start
            while let rows = try await next() {
                guard !rows.isEmpty else { continue }
                try await OrgQuotaCheck.check(.datasetRows, quotas, adding: rows.count, on: tx, logger: logger)
                let positions = Array(position..<(position + rows.count))
                let contents = rows.map(\.content)
                // Arrays cannot carry NULLs through the driver: a parallel flag marks the missing expectations.
                let expected = rows.map { $0.expectedPrediction ?? "" }
                let missing = rows.map { $0.expectedPrediction == nil }
                try await tx.sql(
                    """
                    INSERT INTO rows (dataset_id, position, content, expected_prediction)
                    SELECT \(dataset), p, c::jsonb, CASE WHEN m THEN NULL ELSE e END
                    FROM unnest(\(positions)::int[], \(contents)::text[], \(expected)::text[], \(missing)::bool[]) AS t(p, c, e, m)
                    """, logger: logger)
                position += rows.count
            }
            let imported = position - start
            if imported > 0 {
                try await trail.write(
                    actor.event(org: org, action: .rowsImport, metadata: ["rows": String(imported)]),
                    entityType: "dataset", entityID: dataset.uuidString.lowercased())
            }
            return (imported, position)
        }
    }

    /// The dataset's rows in order, after position `after`; nil when there is no such dataset.
    public func rows(of dataset: UUID, after: Int?, limit: Int) async throws -> [DatasetRowRecord]? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard
                try await connection.sql(
                    "SELECT EXISTS (SELECT 1 FROM datasets WHERE id = \(dataset))", logger: logger
                ).collect()[0].decode(Bool.self)
            else { return nil }
            return try await connection.sql(
                """
                SELECT id, position, content::text, expected_prediction, created_at FROM rows
                WHERE dataset_id = \(dataset) AND (\(after)::int IS NULL OR position > \(after))
                ORDER BY position LIMIT \(limit)
                """, logger: logger
            ).collect().map { row in
                let (id, position, content, expected, created) = try row.decode(
                    (UUID, Int, String, String?, Date).self)
                return DatasetRowRecord(
                    id: id, position: position, content: content, expected: expected, createdAt: created)
            }
        }
    }

    static func record(_ row: PostgresRow) throws -> DatasetRecord {
        let (id, name, description, count, fields, created) = try row.decode(
            (UUID, String, String?, Int, [String], Date).self)
        return DatasetRecord(
            id: id, name: name, description: description, rowCount: count, fields: fields, createdAt: created)
    }
}
