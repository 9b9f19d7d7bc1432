import Foundation
import Logging
import PostgresNIO
import TesseraCore

public struct TaskDefinitionRecord: Sendable {
    public let id: UUID
    public let isSystem: Bool
    public let taskID: String
    public let version: String
    /// JSON texts.
    public let metadata: String
    public let interfaceSpec: String
    public let serviceConfig: String
    public let active: Bool
    public let createdAt: Date
}

public struct TaskServiceRecord: Sendable {
    public let id: UUID
    public let taskDefinitionID: UUID
    public let serviceURL: String
    public let healthPath: String
    public let healthStatus: String
    public let consecutiveFailures: Int
    public let lastHealthCheck: Date?
    public let lastError: String?
    public let createdAt: Date
}

/// An org's task definitions (its own and the system's, which it sees but cannot change) and task services,
/// in the metadata database. Callers pass a connection (a transaction when they also append the audit record).
public struct TaskStore: Sendable {
    public let org: UUID
    let logger: Logger

    public init(org: UUID, logger: Logger) {
        self.org = org
        self.logger = logger
    }

    static let columns =
        "id, is_system, task_id, version, metadata::text, interface_spec::text, service_config::text, active, created_at"

    /// nil when the org already has that task_id and version.
    public func create(
        taskID: String, version: String, metadata: String, interfaceSpec: String, serviceConfig: String,
        createdBy: UUID?,
        on connection: PostgresConnection
    ) async throws -> TaskDefinitionRecord? {
        try await connection.sql(
            """
            INSERT INTO task_definitions (org_id, task_id, version, metadata, interface_spec, service_config, created_by)
            VALUES (\(org), \(taskID), \(version), \(metadata)::jsonb, \(interfaceSpec)::jsonb, \(serviceConfig)::jsonb, \(createdBy))
            ON CONFLICT (org_id, task_id, version) DO NOTHING
            RETURNING \(unescaped: Self.columns)
            """, logger: logger
        ).collect().first.map(Self.record)
    }

    /// The definitions the org sees (its own and the system's), optionally of one task_id; versions of a task in
    /// semantic-version order, newest last.
    public func list(taskID: String?, on connection: PostgresConnection) async throws -> [TaskDefinitionRecord] {
        let records = try await connection.sql(
            """
            SELECT \(unescaped: Self.columns) FROM task_definitions
            WHERE (org_id = \(org) OR is_system) AND (\(taskID)::text IS NULL OR task_id = \(taskID)::text)
            ORDER BY task_id, created_at
            """, logger: logger
        ).collect().map(Self.record)
        return records.sorted { a, b in
            if a.taskID != b.taskID { return a.taskID < b.taskID }
            switch (SemanticVersion(a.version), SemanticVersion(b.version)) {
            case (let x?, let y?) where x != y: return x < y
            default: return a.createdAt < b.createdAt
            }
        }
    }

    public func get(_ id: UUID, on connection: PostgresConnection) async throws -> TaskDefinitionRecord? {
        try await connection.sql(
            "SELECT \(unescaped: Self.columns) FROM task_definitions WHERE id = \(id) AND (org_id = \(org) OR is_system)",
            logger: logger
        ).collect().first.map(Self.record)
    }

    /// The definition a pipeline step names: the org's own first, then the system's.
    public func resolve(taskID: String, version: String, on connection: PostgresConnection) async throws
        -> TaskDefinitionRecord?
    {
        try await connection.sql(
            """
            SELECT \(unescaped: Self.columns) FROM task_definitions
            WHERE task_id = \(taskID) AND version = \(version) AND (org_id = \(org) OR is_system) ORDER BY is_system LIMIT 1
            """, logger: logger
        ).collect().first.map(Self.record)
    }

    public enum ActivationOutcome: Sendable {
        case updated(TaskDefinitionRecord, changed: Bool)
        case notFound, system
    }

    public func setActive(_ id: UUID, _ active: Bool, on connection: PostgresConnection) async throws
        -> ActivationOutcome
    {
        guard
            let current = try await connection.sql(
                "SELECT \(unescaped: Self.columns) FROM task_definitions WHERE id = \(id) AND (org_id = \(org) OR is_system) FOR UPDATE",
                logger: logger
            ).collect().first.map(Self.record)
        else { return .notFound }
        if current.isSystem { return .system }
        if current.active == active { return .updated(current, changed: false) }
        let updated = try await connection.sql(
            "UPDATE task_definitions SET active = \(active) WHERE id = \(id) RETURNING \(unescaped: Self.columns)",
            logger: logger
        ).collect()[0]
        return .updated(try Self.record(updated), changed: true)
    }

    // MARK: services

    static let serviceColumns = """
        id, task_definition_id, service_url, health_path, health_status, consecutive_failures, last_health_check, last_error, created_at
        """

    /// How many task services the org has, counted under the org's registration lock (held to the end of the
    /// transaction), so two registrations at once cannot both pass a limit.
    public func lockAndCountServices(on connection: PostgresConnection) async throws -> Int {
        try await connection.sql(
            "SELECT pg_advisory_xact_lock(\(AdvisoryLock.taskServices), \(AdvisoryLock.relayObject(org)))",
            logger: logger)
        return try await connection.sql(
            "SELECT count(*)::int FROM task_services WHERE org_id = \(org)", logger: logger
        ).collect()[0].decode(Int.self)
    }

    /// nil when the org already registered that URL for the definition.
    public func registerService(definition: UUID, url: String, healthPath: String, on connection: PostgresConnection)
        async throws
        -> TaskServiceRecord?
    {
        try await connection.sql(
            """
            INSERT INTO task_services (org_id, task_definition_id, service_url, health_path) VALUES (\(org), \(definition), \(url), \(healthPath))
            ON CONFLICT (org_id, task_definition_id, service_url) DO NOTHING RETURNING \(unescaped: Self.serviceColumns)
            """, logger: logger
        ).collect().first.map(Self.service)
    }

    public func services(definition: UUID?, on connection: PostgresConnection) async throws -> [TaskServiceRecord] {
        try await connection.sql(
            """
            SELECT \(unescaped: Self.serviceColumns) FROM task_services
            WHERE org_id = \(org) AND (\(definition)::uuid IS NULL OR task_definition_id = \(definition)::uuid) ORDER BY created_at, id
            """, logger: logger
        ).collect().map(Self.service)
    }

    public func removeService(_ id: UUID, on connection: PostgresConnection) async throws -> TaskServiceRecord? {
        try await connection.sql(
            "DELETE FROM task_services WHERE id = \(id) AND org_id = \(org) RETURNING \(unescaped: Self.serviceColumns)",
            logger: logger
        ).collect().first.map(Self.service)
    }

    static func record(_ row: PostgresRow) throws -> TaskDefinitionRecord {
        let (id, system, task, version, metadata, spec, config, active, created) =
            try row.decode((UUID, Bool, String, String, String, String, String, Bool, Date).self)
        return TaskDefinitionRecord(
            id: id, isSystem: system, taskID: task, version: version, metadata: metadata, interfaceSpec: spec,
            serviceConfig: config,
            active: active, createdAt: created)
    }

    static func service(_ row: PostgresRow) throws -> TaskServiceRecord {
        let (id, definition, url, path, status, failures, checked, error, created) =
            try row.decode((UUID, UUID, String, String, String, Int, Date?, String?, Date).self)
        return TaskServiceRecord(
            id: id, taskDefinitionID: definition, serviceURL: url, healthPath: path, healthStatus: status,
            consecutiveFailures: failures,
            lastHealthCheck: checked, lastError: error, createdAt: created)
    }
}

/// The health checker's view of every org's services.
public struct TaskServiceHealthStore: Sendable {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// Takes the lock of one health round for the enclosing transaction; false when another process holds it.
    public func lockRound(on connection: PostgresConnection) async throws -> Bool {
        try await connection.sql(
            "SELECT pg_try_advisory_xact_lock(\(AdvisoryLock.taskHealthRound), 0)", logger: logger
        )
        .collect()[0].decode(Bool.self)
    }

    public struct Target: Sendable {
        public let id: UUID
        public let org: UUID
        public let url: String
    }

    public func targets(on connection: PostgresConnection) async throws -> [Target] {
        try await connection.sql(
            "SELECT id, org_id, rtrim(service_url, '/') || health_path FROM task_services ORDER BY id", logger: logger
        ).collect().map { row in
            let (id, org, url) = try row.decode((UUID, UUID, String).self)
            return Target(id: id, org: org, url: url)
        }
    }

    /// Records one check; returns the status before and after when it changed (healthy after a success,
    /// unhealthy after `threshold` consecutive failures).
    public func record(_ id: UUID, ok: Bool, error: String?, threshold: Int, on connection: PostgresConnection)
        async throws -> (
            from: String, to: String
        )?
    {
        let rows = try await connection.sql(
            """
            WITH before AS (SELECT health_status FROM task_services WHERE id = \(id) FOR UPDATE)
            UPDATE task_services s SET
                consecutive_failures = CASE WHEN \(ok) THEN 0 ELSE s.consecutive_failures + 1 END,
                health_status = CASE WHEN \(ok) THEN 'healthy'
                                     WHEN s.consecutive_failures + 1 >= \(threshold) THEN 'unhealthy'
                                     ELSE s.health_status END,
                last_health_check = now(), last_error = \(error)
            FROM before WHERE s.id = \(id)
            RETURNING before.health_status, s.health_status
            """, logger: logger
        ).collect()
        guard let (from, to) = try rows.first?.decode((String, String).self), from != to else { return nil }
        return (from, to)
    }
}
