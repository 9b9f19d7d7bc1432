import Crypto
import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// A pipeline step with the task definition it resolved to.
public struct ResolvedStep: Sendable, Equatable {
    public let step: PipelineStep
    public let definitionID: UUID

    public init(step: PipelineStep, definitionID: UUID) {
        self.step = step
        self.definitionID = definitionID
    }
}

public struct PipelineTemplateRecord: Sendable {
    public let id: UUID
    public let name: String
    public let description: String?
    public let steps: [ResolvedStep]
    public let createdAt: Date
}

public struct PipelineRecord: Sendable {
    public let id: UUID
    public let name: String
    public let description: String?
    public let templateID: UUID?
    public let createdAt: Date
}

public struct PipelineVersionRecord: Sendable {
    public let id: UUID
    public let pipelineID: UUID
    public let version: Int
    public let steps: [ResolvedStep]
    public let checksum: [UInt8]
    public let publishedAt: Date?
    public let createdAt: Date
}

/// An org's pipeline templates, pipelines and their versions, in the metadata database.
public struct PipelineStore: Sendable {
    public let org: UUID
    let logger: Logger

    public init(org: UUID, logger: Logger) {
        self.org = org
        self.logger = logger
    }

    /// Resolves every step's task definition (the org's own, then the system's); every problem, with its path,
    /// when the graph is not a DAG or a definition is unknown or inactive.
    public func check(_ steps: [PipelineStep], on connection: PostgresConnection) async throws -> Result<
        [ResolvedStep], Problems
    > {
        var problems = PipelineGraph.problems(steps).map(\.description)
        var resolved: [ResolvedStep] = []
        let tasks = TaskStore(org: org, logger: logger)
        for (i, step) in steps.enumerated() {
            guard let definition = try await tasks.resolve(taskID: step.task, version: step.version, on: connection)
            else {
                problems.append("steps[\(i)].task: no task definition '\(step.task)' version '\(step.version)'")
                continue
            }
            guard definition.active else {
                problems.append(
                    "steps[\(i)].task: task definition '\(step.task)' version '\(step.version)' is inactive")
                continue
            }
            resolved.append(ResolvedStep(step: step, definitionID: definition.id))
        }
        return problems.isEmpty ? .success(resolved) : .failure(Problems(list: problems))
    }

    public struct Problems: Error, Sendable {
        public let list: [String]
    }

    // MARK: templates

    /// nil when the org has a template of that name.
    public func createTemplate(
        name: String, description: String?, steps: [ResolvedStep], createdBy: UUID?, on connection: PostgresConnection
    ) async throws -> PipelineTemplateRecord? {
        guard
            let (id, created) = try await connection.sql(
                """
                INSERT INTO pipeline_templates (org_id, name, description, created_by) VALUES (\(org), \(name), \(description), \(createdBy))
                ON CONFLICT (org_id, name) DO NOTHING RETURNING id, created_at
                """, logger: logger
            ).collect().first?.decode((UUID, Date).self)
        else { return nil }
        for (position, step) in steps.enumerated() {
            try await connection.sql(
                """
                INSERT INTO pipeline_task_steps (pipeline_template_id, step_key, task_definition_id, depends_on, position)
                VALUES (\(id), \(step.step.key), \(step.definitionID), \(step.step.dependsOn), \(position))
                """, logger: logger)
        }
        return PipelineTemplateRecord(id: id, name: name, description: description, steps: steps, createdAt: created)
    }

    public func templates(on connection: PostgresConnection) async throws -> [PipelineTemplateRecord] {
        let ids = try await connection.sql(
            "SELECT id FROM pipeline_templates WHERE org_id = \(org) ORDER BY created_at, id", logger: logger
        ).collect().map { try $0.decode(UUID.self) }
        var out: [PipelineTemplateRecord] = []
        for id in ids { if let t = try await template(id, on: connection) { out.append(t) } }
        return out
    }

    public func template(_ id: UUID, on connection: PostgresConnection) async throws -> PipelineTemplateRecord? {
        guard
            let (name, description, created) = try await connection.sql(
                "SELECT name, description, created_at FROM pipeline_templates WHERE id = \(id) AND org_id = \(org)",
                logger: logger
            ).collect().first?.decode((String, String?, Date).self)
        else { return nil }
        let steps = try await connection.sql(
            """
            SELECT s.step_key, d.task_id, d.version, s.depends_on, s.task_definition_id
            FROM pipeline_task_steps s JOIN task_definitions d ON d.id = s.task_definition_id
            WHERE s.pipeline_template_id = \(id) ORDER BY s.position
            """, logger: logger
        ).collect().map { row in
            let (key, task, version, depends, definition) = try row.decode(
                (String, String, String, [String], UUID).self)
            return ResolvedStep(
                step: PipelineStep(key: key, task: task, version: version, dependsOn: depends), definitionID: definition
            )
        }
        return PipelineTemplateRecord(id: id, name: name, description: description, steps: steps, createdAt: created)
    }

    // MARK: pipelines and versions

    /// nil when the org has a pipeline of that name.
    public func createPipeline(
        name: String, description: String?, templateID: UUID?, createdBy: UUID?, on connection: PostgresConnection
    ) async throws -> PipelineRecord? {
        try await connection.sql(
            """
            INSERT INTO pipelines (org_id, name, description, pipeline_template_id, created_by)
            VALUES (\(org), \(name), \(description), \(templateID), \(createdBy))
            ON CONFLICT (org_id, name) DO NOTHING RETURNING id, name, description, pipeline_template_id, created_at
            """, logger: logger
        ).collect().first.map(Self.pipeline)
    }

    public func pipelines(on connection: PostgresConnection) async throws -> [PipelineRecord] {
        try await connection.sql(
            "SELECT id, name, description, pipeline_template_id, created_at FROM pipelines WHERE org_id = \(org) ORDER BY created_at, id",
            logger: logger
        ).collect().map(Self.pipeline)
    }

    public func pipeline(_ id: UUID, on connection: PostgresConnection) async throws -> PipelineRecord? {
        try await connection.sql(
            "SELECT id, name, description, pipeline_template_id, created_at FROM pipelines WHERE id = \(id) AND org_id = \(org)",
            logger: logger
        ).collect().first.map(Self.pipeline)
    }

    /// The pipeline's name and its versions' ids, its row locked until the transaction ends (no version can be added
    /// meanwhile); nil when the org has no such pipeline.
    public func lockedVersions(of pipeline: UUID, on connection: PostgresConnection) async throws -> (
        name: String, versions: [UUID]
    )? {
        guard
            let name = try await connection.sql(
                "SELECT name FROM pipelines WHERE id = \(pipeline) AND org_id = \(org) FOR UPDATE", logger: logger
            ).collect().first?.decode(String.self)
        else { return nil }
        let versions = try await connection.sql(
            "SELECT id FROM pipeline_versions WHERE pipeline_id = \(pipeline)", logger: logger
        ).collect().map { try $0.decode(UUID.self) }
        return (name, versions)
    }

    /// Deletes the pipeline with its versions; the caller holds its row (`lockedVersions`) and has found no job of it.
    public func deletePipeline(_ pipeline: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql("DELETE FROM pipelines WHERE id = \(pipeline) AND org_id = \(org)", logger: logger)
    }

    /// The next version of the pipeline, a draft; the caller has checked the pipeline is the org's.
    public func createVersion(
        pipeline: UUID, steps: [ResolvedStep], createdBy: UUID?, on connection: PostgresConnection
    ) async throws
        -> PipelineVersionRecord
    {
        _ = try await connection.sql("SELECT 1 FROM pipelines WHERE id = \(pipeline) FOR UPDATE", logger: logger)
            .collect()
        let (definition, checksum) = try Self.definition(steps)
        let id = try await connection.sql(
            """
            INSERT INTO pipeline_versions (pipeline_id, version, definition, checksum, created_by)
            SELECT \(pipeline), coalesce(max(version), 0) + 1, \(definition)::jsonb, \(Data(checksum)), \(createdBy)
            FROM pipeline_versions WHERE pipeline_id = \(pipeline)
            RETURNING id
            """, logger: logger
        ).collect()[0].decode(UUID.self)
        return try await version(id: id, on: connection)!
    }

    public enum VersionChange: Sendable {
        case changed(PipelineVersionRecord)
        case notFound
        case published(PipelineVersionRecord)
    }

    /// Replaces a draft's steps; a published version is never changed.
    public func updateVersion(pipeline: UUID, version: Int, steps: [ResolvedStep], on connection: PostgresConnection)
        async throws
        -> VersionChange
    {
        guard let current = try await lockVersion(pipeline: pipeline, version: version, on: connection) else {
            return .notFound
        }
        if current.publishedAt != nil { return .published(current) }
        let (definition, checksum) = try Self.definition(steps)
        try await connection.sql(
            "UPDATE pipeline_versions SET definition = \(definition)::jsonb, checksum = \(Data(checksum)) WHERE id = \(current.id)",
            logger: logger)
        return .changed(try await self.version(id: current.id, on: connection)!)
    }

    public func publish(pipeline: UUID, version: Int, on connection: PostgresConnection) async throws -> VersionChange {
        guard let current = try await lockVersion(pipeline: pipeline, version: version, on: connection) else {
            return .notFound
        }
        if current.publishedAt != nil { return .published(current) }
        try await connection.sql(
            "UPDATE pipeline_versions SET published_at = now() WHERE id = \(current.id)", logger: logger)
        return .changed(try await self.version(id: current.id, on: connection)!)
    }

    public func versions(pipeline: UUID, on connection: PostgresConnection) async throws -> [PipelineVersionRecord] {
        try await connection.sql(
            """
            SELECT \(unescaped: Self.versionColumns) FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id
            WHERE v.pipeline_id = \(pipeline) AND p.org_id = \(org) ORDER BY v.version
            """, logger: logger
        ).collect().map(Self.version)
    }

    public func version(pipeline: UUID, version: Int, on connection: PostgresConnection) async throws
        -> PipelineVersionRecord?
    {
        guard
            let id = try await connection.sql(
                """
                SELECT v.id FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id
                WHERE v.pipeline_id = \(pipeline) AND v.version = \(version) AND p.org_id = \(org)
                """, logger: logger
            ).collect().first?.decode(UUID.self)
        else { return nil }
        return try await self.version(id: id, on: connection)
    }

    /// A version of one of the org's pipelines, by its id (what a job names).
    public func version(id: UUID, on connection: PostgresConnection) async throws -> PipelineVersionRecord? {
        try await connection.sql(
            """
            SELECT \(unescaped: Self.versionColumns) FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id
            WHERE v.id = \(id) AND p.org_id = \(org)
            """, logger: logger
        ).collect().first.map(Self.version)
    }

    static let versionColumns =
        "v.id, v.pipeline_id, v.version, v.definition::text, v.checksum, v.published_at, v.created_at"

    static func version(_ row: PostgresRow) throws -> PipelineVersionRecord {
        let (id, pipeline, number, definition, checksum, published, created) =
            try row.decode((UUID, UUID, Int, String, Data, Date?, Date).self)
        return PipelineVersionRecord(
            id: id, pipelineID: pipeline, version: number, steps: try steps(definition), checksum: Array(checksum),
            publishedAt: published, createdAt: created)
    }

    func lockVersion(pipeline: UUID, version: Int, on connection: PostgresConnection) async throws
        -> PipelineVersionRecord?
    {
        guard
            let id = try await connection.sql(
                """
                SELECT v.id FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id
                WHERE v.pipeline_id = \(pipeline) AND v.version = \(version) AND p.org_id = \(org) FOR UPDATE OF v
                """, logger: logger
            ).collect().first?.decode(UUID.self)
        else { return nil }
        return try await self.version(id: id, on: connection)
    }

    /// The stored definition (canonical JSON) and its SHA-256.
    static func definition(_ steps: [ResolvedStep]) throws -> (String, [UInt8]) {
        let value: [String: Any] = [
            "steps": steps.map { s -> [String: Any] in
                var step: [String: Any] = [
                    "key": s.step.key, "task": s.step.task, "version": s.step.version, "depends_on": s.step.dependsOn,
                    "task_definition_id": s.definitionID.uuidString.lowercased(),
                ]
                // Written only when off, so the definitions (and checksums) of versions made before are unchanged.
                if !s.step.cache { step["cache"] = false }
                return step
            }
        ]
        let bytes = try CanonicalJSON.encode(value)
        return (String(decoding: bytes, as: UTF8.self), SHA256.hash(data: bytes).bytes)
    }

    static func steps(_ definition: String) throws -> [ResolvedStep] {
        struct Stored: Decodable {
            struct Step: Decodable {
                let key: String
                let task: String
                let version: String
                let depends_on: [String]
                let task_definition_id: UUID
                let cache: Bool?
            }
            let steps: [Step]
        }
        return try JSONDecoder().decode(Stored.self, from: Data(definition.utf8)).steps.map {
            ResolvedStep(
                step: PipelineStep(
                    key: $0.key, task: $0.task, version: $0.version, dependsOn: $0.depends_on, cache: $0.cache ?? true),
                definitionID: $0.task_definition_id)
        }
    }

    static func pipeline(_ row: PostgresRow) throws -> PipelineRecord {
        let (id, name, description, template, created) = try row.decode((UUID, String, String?, UUID?, Date).self)
        return PipelineRecord(id: id, name: name, description: description, templateID: template, createdAt: created)
    }
}
