import Foundation
import Logging
import PostgresNIO
import TesseraCore

public struct ModelRecord: Sendable, Equatable {
    public let id: UUID
    public let name: String
    public let source: String
    public let library: String?
    public let description: String?
    public let createdAt: Date
}

public struct PromptRecord: Sendable, Equatable {
    public let id: UUID
    public let name: String
    public let template: String
    public let createdAt: Date
}

/// A prediction run with its progress, kept by the database's triggers (read in O(1)).
public struct RunRecord: Sendable, Equatable {
    public let id: UUID
    public let modelID: UUID
    public let promptID: UUID
    public let datasetID: UUID
    public let status: String
    public let total: Int
    public let pending: Int
    public let inProgress: Int
    public let done: Int
    public let failed: Int
    public let createdAt: Date
    public let finishedAt: Date?
}

/// Which runs a listing wants (nil: any).
public struct RunFilter: Sendable {
    public var dataset: UUID?
    public var model: UUID?
    public var prompt: UUID?
    public var status: String?

    public init(dataset: UUID? = nil, model: UUID? = nil, prompt: UUID? = nil, status: String? = nil) {
        self.dataset = dataset
        self.model = model
        self.prompt = prompt
        self.status = status
    }
}

/// Models, prompts and prediction runs of one org, in its own database; every change writes its audit
/// event to the outbox in the same transaction.
public struct PredictionRepository: Sendable {
    public let org: UUID
    let databases: TenantDatabases
    let logger: Logger

    public init(org: UUID, databases: TenantDatabases, logger: Logger) {
        self.org = org
        self.databases = databases
        self.logger = logger
    }

    func change<T: Sendable>(
        _ audit: AuditEvent, _ body: @escaping @Sendable (PostgresConnection) async throws -> (T, String)?
    ) async throws -> T? {
        try await databases.audited(org: org, audit, logger: logger, body)
    }

    public func createModel(name: String, source: String, library: String?, description: String?, audit: AuditEvent)
        async throws
        -> ModelRecord?
    {
        try await change(audit) { [logger] tx in
            let rows = try await tx.sql(
                """
                INSERT INTO models (name, source, library, description) VALUES (\(name), \(source), \(library), \(description))
                ON CONFLICT (name, source) DO NOTHING RETURNING id, name, source, library, description, created_at
                """, logger: logger
            ).collect()
            return try rows.first.map { row in
                let m = try Self.model(row)
                return (m, m.id.uuidString.lowercased())
            }
        }
    }

    public func models() async throws -> [ModelRecord] {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT id, name, source, library, description, created_at FROM models ORDER BY created_at, id",
                logger: logger
            ).collect().map(Self.model)
        }
    }

    public func createPrompt(name: String, template: String, audit: AuditEvent) async throws -> PromptRecord? {
        try await change(audit) { [logger] tx in
            let rows = try await tx.sql(
                "INSERT INTO prompts (name, template) VALUES (\(name), \(template)) ON CONFLICT (name) DO NOTHING RETURNING id, name, template, created_at",
                logger: logger
            ).collect()
            return try rows.first.map { row in
                let p = try Self.prompt(row)
                return (p, p.id.uuidString.lowercased())
            }
        }
    }

    public func prompts() async throws -> [PromptRecord] {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT id, name, template, created_at FROM prompts ORDER BY created_at, id", logger: logger
            )
            .collect().map(Self.prompt)
        }
    }

    public func prompt(_ id: UUID) async throws -> PromptRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT id, name, template, created_at FROM prompts WHERE id = \(id)", logger: logger
            )
            .collect().first.map(Self.prompt)
        }
    }

    public func model(_ id: UUID) async throws -> ModelRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT id, name, source, library, description, created_at FROM models WHERE id = \(id)", logger: logger
            ).collect().first.map(Self.model)
        }
    }

    /// What a run refers to, and may be deleted when no run does.
    public enum RunInput: Sendable {
        case model, prompt, dataset

        var action: AuditAction {
            switch self {
            case .model: .modelDelete
            case .prompt: .promptDelete
            case .dataset: .datasetDelete
            }
        }
    }

    public enum DeleteOutcome: Sendable, Equatable {
        case deleted
        case notFound
        /// How many runs use it.
        case usedByRuns(Int)
    }

    /// Deletes the model, prompt or dataset `id` (a dataset with its rows) unless a run uses it, with its audit
    /// record in the same transaction. The row is locked first, so a run created meanwhile either is counted
    /// or finds it gone.
    public func delete(_ kind: RunInput, _ id: UUID, by actor: AuditActor) async throws -> DeleteOutcome {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            let locked: PostgresQuery =
                switch kind {
                case .model: "SELECT name FROM models WHERE id = \(id) FOR UPDATE"
                case .prompt: "SELECT name FROM prompts WHERE id = \(id) FOR UPDATE"
                case .dataset: "SELECT name FROM datasets WHERE id = \(id) FOR UPDATE"
                }
            guard let name = try await tx.sql(locked, logger: logger).collect().first?.decode(String.self) else {
                return .notFound
            }
            let users: PostgresQuery =
                switch kind {
                case .model: "SELECT count(*) FROM prediction_runs WHERE model_id = \(id)"
                case .prompt: "SELECT count(*) FROM prediction_runs WHERE prompt_id = \(id)"
                case .dataset: "SELECT count(*) FROM prediction_runs WHERE dataset_id = \(id)"
                }
            let runs = try await tx.sql(users, logger: logger).collect()[0].decode(Int.self)
            guard runs == 0 else { return .usedByRuns(runs) }
            let delete: PostgresQuery =
                switch kind {
                case .model: "DELETE FROM models WHERE id = \(id)"
                case .prompt: "DELETE FROM prompts WHERE id = \(id)"
                case .dataset: "DELETE FROM datasets WHERE id = \(id)"
                }
            try await tx.sql(delete, logger: logger)
            try await trail.record(
                kind.action, by: actor, entityType: "\(kind)", entityID: id, metadata: ["name": name])
            return .deleted
        }
    }

    public func modelExists(_ id: UUID) async throws -> Bool {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql("SELECT EXISTS (SELECT 1 FROM models WHERE id = \(id))", logger: logger)
                .collect()[0].decode(
                    Bool.self)
        }
    }

    /// Creates a run; the trigger seeds one pending work item per row of the dataset.
    public func createRun(
        model: UUID, prompt: UUID, dataset: UUID, createdBy: UUID?, quotas: OrgQuotas = OrgQuotas(), audit: AuditEvent
    ) async throws -> RunRecord? {
        try await change(audit) { [logger] tx in
            try await OrgQuotaCheck.check(.concurrentRuns, quotas, adding: 1, on: tx, logger: logger)
            let id = try await tx.sql(
                """
                INSERT INTO prediction_runs (model_id, prompt_id, dataset_id, created_by)
                VALUES (\(model), \(prompt), \(dataset), \(createdBy)) RETURNING id
                """, logger: logger
            ).collect()[0].decode(UUID.self)
            guard let run = try await Self.run(id, on: tx, logger: logger) else { return nil }
            return (run, id.uuidString.lowercased())
        }
    }

    public func run(_ id: UUID) async throws -> RunRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await Self.run(id, on: connection, logger: logger)
        }
    }

    public enum CancelOutcome: Sendable, Equatable {
        case cancelled(RunRecord)
        case notFound
        case finished(String)
    }

    /// Cancels a pending or running run (its work items stay as they are, for the record).
    public func cancelRun(_ id: UUID, by actor: AuditActor) async throws -> CancelOutcome {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail -> CancelOutcome in
            guard let current = try await Self.lockedStatus(id, on: tx, logger: logger) else { return .notFound }
            guard current == "pending" || current == "running" else { return .finished(current) }
            try await tx.sql(
                "UPDATE prediction_runs SET status = 'cancelled', finished_at = now() WHERE id = \(id)", logger: logger)
            try await trail.record(.runCancel, by: actor, entityType: "run", entityID: id)
            guard let run = try await Self.run(id, on: tx, logger: logger) else { return .notFound }
            return .cancelled(run)
        }
    }

    public enum RunDeleteOutcome: Sendable, Equatable {
        case deleted
        case notFound
        /// Still pending or running: cancel it first.
        case active(String)
        /// Its evaluations are kept as computed; how many there are.
        case evaluated(Int)
    }

    /// Deletes a finished or cancelled run with its work items and predictions, with its audit record in the
    /// same transaction; refused while it may still take results, or once it has been evaluated.
    public func deleteRun(_ id: UUID, by actor: AuditActor) async throws -> RunDeleteOutcome {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail -> RunDeleteOutcome in
            guard let status = try await Self.lockedStatus(id, on: tx, logger: logger) else { return .notFound }
            guard status == "done" || status == "cancelled" else { return .active(status) }
            let evaluations = try await tx.sql(
                "SELECT count(*) FROM run_evaluations WHERE run_id = \(id)", logger: logger
            ).collect()[0].decode(Int.self)
            guard evaluations == 0 else { return .evaluated(evaluations) }
            try await tx.sql("DELETE FROM prediction_runs WHERE id = \(id)", logger: logger)
            try await trail.record(.runDelete, by: actor, entityType: "run", entityID: id, metadata: ["status": status])
            return .deleted
        }
    }

    /// The run's status, its row locked until the transaction ends; nil when there is no such run.
    static func lockedStatus(_ id: UUID, on tx: PostgresConnection, logger: Logger) async throws -> String? {
        try await tx.sql("SELECT status::text FROM prediction_runs WHERE id = \(id) FOR UPDATE", logger: logger)
            .collect().first?.decode(String.self)
    }

    static func run(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> RunRecord? {
        try await connection.sql(
            "SELECT \(unescaped: runColumns) FROM prediction_runs WHERE id = \(id)", logger: logger
        ).collect().first.map(Self.run)
    }

    static let runColumns =
        "id, model_id, prompt_id, dataset_id, status::text, total, pending, in_progress, done, failed, created_at, finished_at"

    static func run(_ row: PostgresRow) throws -> RunRecord {
        let c = row.makeRandomAccess()
        return RunRecord(
            id: try c[0].decode(UUID.self), modelID: try c[1].decode(UUID.self), promptID: try c[2].decode(UUID.self),
            datasetID: try c[3].decode(UUID.self), status: try c[4].decode(String.self),
            total: try c[5].decode(Int.self),
            pending: try c[6].decode(Int.self), inProgress: try c[7].decode(Int.self), done: try c[8].decode(Int.self),
            failed: try c[9].decode(Int.self), createdAt: try c[10].decode(Date.self),
            finishedAt: try c[11].decode(Date?.self))
    }

    /// Runs matching every filter given, oldest first, after the (created_at, id) cursor.
    public func runs(_ filter: RunFilter, after: (Date, UUID)?, limit: Int) async throws -> [RunRecord] {
        let (afterTime, afterID) = (after?.0, after?.1)
        return try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                """
                SELECT \(unescaped: Self.runColumns) FROM prediction_runs
                WHERE (\(filter.dataset)::uuid IS NULL OR dataset_id = \(filter.dataset))
                  AND (\(filter.model)::uuid IS NULL OR model_id = \(filter.model))
                  AND (\(filter.prompt)::uuid IS NULL OR prompt_id = \(filter.prompt))
                  AND (\(filter.status)::text IS NULL OR status::text = \(filter.status))
                  AND (\(afterTime)::timestamptz IS NULL OR (created_at, id) > (\(afterTime)::timestamptz, \(afterID)::uuid))
                ORDER BY created_at, id LIMIT \(limit)
                """, logger: logger
            ).collect().map(Self.run)
        }
    }

    static func model(_ row: PostgresRow) throws -> ModelRecord {
        let (id, name, source, library, description, created) = try row.decode(
            (UUID, String, String, String?, String?, Date).self)
        return ModelRecord(
            id: id, name: name, source: source, library: library, description: description, createdAt: created)
    }

    static func prompt(_ row: PostgresRow) throws -> PromptRecord {
        let (id, name, template, created) = try row.decode((UUID, String, String, Date).self)
        return PromptRecord(id: id, name: name, template: template, createdAt: created)
    }
}
