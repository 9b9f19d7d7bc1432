import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// A file a job reads or wrote: where it is, what it is, and (optionally) its digest and size.
public struct JobFile: Sendable, Equatable {
    public let name: String
    public let uri: String
    public let contentType: String
    public let sha256: [UInt8]?
    public let sizeBytes: Int64?

    public init(name: String, uri: String, contentType: String, sha256: [UInt8]?, sizeBytes: Int64?) {
        self.name = name
        self.uri = uri
        self.contentType = contentType
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
    }

    /// The URI of an artifact of the org as a job's file.
    public static func uri(artifact: UUID) -> String { "artifact:\(artifact.uuidString.lowercased())" }

    /// The artifact an `artifact:` URI names.
    public static func artifactID(_ uri: String) -> UUID? {
        guard uri.hasPrefix("artifact:") else { return nil }
        return UUID(uuidString: String(uri.dropFirst("artifact:".count)))
    }
}

public struct JobRecord: Sendable {
    public let id: UUID
    public let pipelineVersionID: UUID?
    public let status: JobStatus
    /// The params as JSON text.
    public let params: String
    public let inputSignature: [UInt8]
    public let priority: Int
    public let cacheSeconds: Int
    public let createdBy: UUID?
    public let error: String?
    public let createdAt: Date
    public let startedAt: Date?
    public let finishedAt: Date?
    /// "engine" (the engine runs its steps) or "manual" (clients move it by hand).
    public let dispatch: String
    /// Whether the engine may answer a step from an earlier execution with the same inputs.
    public let useCache: Bool
    public var inputs: [JobFile] = []
    public var outputs: [JobFile] = []
}

public struct JobEvent: Sendable {
    public let seq: Int64
    public let kind: String
    /// JSON text.
    public let data: String
    public let createdAt: Date
}

public struct TaskExecutionRecord: Sendable {
    public let id: UUID
    public let stepKey: String
    public let taskDefinitionID: UUID?
    public let status: JobStatus
    public let attempt: Int
    public let error: String?
    public let startedAt: Date?
    public let finishedAt: Date?
}

public struct TaskLogRecord: Sendable {
    public let id: Int64
    public let loggedAt: Date
    public let level: String
    public let message: String
}

public struct TaskResultRecord: Sendable {
    public let id: UUID
    /// JSON text.
    public let result: String
    public let createdAt: Date
}

public struct JobComment: Sendable {
    public let id: UUID
    public let authorID: UUID?
    public let authorDisplay: String?
    public let body: String
    public let createdAt: Date
}

/// What a new job asks for; its signature is computed from the pipeline version, params and inputs.
public struct NewJob: Sendable {
    public let pipelineVersionID: UUID
    public let params: String
    public let inputs: [JobFile]
    public let priority: Int
    public let cacheSeconds: Int
    public let signature: JobSignature
    public let dispatch: String
    public let useCache: Bool

    public init(
        pipelineVersionID: UUID, params: String, inputs: [JobFile], priority: Int, cacheSeconds: Int,
        signature: JobSignature, dispatch: String = "engine", useCache: Bool = true
    ) {
        self.dispatch = dispatch
        self.useCache = useCache
        self.pipelineVersionID = pipelineVersionID
        self.params = params
        self.inputs = inputs
        self.priority = priority
        self.cacheSeconds = cacheSeconds
        self.signature = signature
    }
}

/// Jobs of one org, in its own database. Every change locks the job's row, appends to its timeline
/// (`job_events`, seq dense per job) and writes its audit event to the outbox, in one transaction.
public struct JobRepository: Sendable {
    public let org: UUID
    let databases: TenantDatabases
    let logger: Logger

    public init(org: UUID, databases: TenantDatabases, logger: Logger) {
        self.org = org
        self.databases = databases
        self.logger = logger
    }

    static let jobColumns = """
        id, pipeline_version_id, status::text, params::text, input_signature, priority, cache_seconds, created_by, error,
        created_at, started_at, finished_at, dispatch, use_cache
        """

    /// A job for the signature: the live cached one (its hit count bumped; `cached` true) or a new PENDING one.
    /// Creates the job, or answers the cached one with the same input signature. `pipeline` is its version's
    /// pipeline: its `pipelineUse` lock is held shared first, then `versionExists` (the metadata database) must still
    /// say yes, so a deletion of the pipeline either counts this job or is seen here.
    public func create(
        _ job: NewJob, pipeline: UUID, versionExists: @escaping @Sendable () async throws -> Bool, createdBy: UUID?,
        by actor: AuditActor
    ) async throws -> (job: JobRecord, cached: Bool) {
        try await change { tx, trail in
            try await tx.sql(
                "SELECT pg_advisory_xact_lock_shared(\(AdvisoryLock.pipelineUse), hashtext(\(pipeline)::text))",
                logger: logger)
            guard try await versionExists() else {
                throw TesseraError.unprocessable("the pipeline of this version was deleted")
            }
            let signature = Data(job.signature.digest)
            if let hit = try await tx.sql(
                """
                SELECT job_id FROM result_cache WHERE input_signature = \(signature)
                  AND (expires_at IS NULL OR expires_at > now()) FOR UPDATE
                """, logger: logger
            ).collect().first?.decode(UUID.self) {
                try await tx.sql(
                    "UPDATE result_cache SET hits = hits + 1 WHERE input_signature = \(signature)", logger: logger)
                try await Self.lock(hit, on: tx, logger: logger)
                try await Self.appendEvent(hit, "cache_hit", ["signature": signature.hexString], on: tx, logger: logger)
                try await trail.record(
                    .jobCacheHit, by: actor, entityType: "job", entityID: hit,
                    metadata: ["signature": job.signature.digest.hexString])
                return (try await Self.job(hit, on: tx, logger: logger)!, true)
            }
            let id = try await tx.sql(
                """
                INSERT INTO jobs (pipeline_version_id, params, input_signature, input_canonical, priority, cache_seconds, created_by,
                                  dispatch, use_cache)
                VALUES (\(job.pipelineVersionID), \(job.params)::jsonb, \(signature), \(job.signature.canonical), \(job.priority),
                        \(job.cacheSeconds), \(createdBy), \(job.dispatch), \(job.useCache))
                RETURNING id
                """, logger: logger
            ).collect()[0].decode(UUID.self)
            if !job.inputs.isEmpty {
                try await Self.insertFiles("job_inputs", job: id, job.inputs, on: tx, logger: logger)
            }
            try await Self.appendEvent(id, "created", ["status": JobStatus.pending.rawValue], on: tx, logger: logger)
            try await trail.record(
                .jobCreate, by: actor, entityType: "job", entityID: id,
                metadata: [
                    "signature": job.signature.digest.hexString, "status": JobStatus.pending.rawValue,
                    "pipeline_version_id": job.pipelineVersionID.uuidString.lowercased(),
                ],
                job: JobMirror.Update(jobID: id, status: .pending, pipelineVersionID: job.pipelineVersionID))
            return (try await Self.job(id, on: tx, logger: logger)!, false)
        }
    }

    public func job(_ id: UUID) async throws -> JobRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] in
            try await Self.job(id, on: $0, logger: logger)
        }
    }

    /// A page of jobs, oldest first, after the (created_at, id) cursor.
    public func jobs(status: JobStatus?, after: (Date, UUID)?, limit: Int) async throws -> [JobRecord] {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            let (afterTime, afterID) = (after?.0, after?.1)
            return try await connection.sql(
                """
                SELECT \(unescaped: Self.jobColumns) FROM jobs
                WHERE (\(status?.rawValue)::text IS NULL OR status::text = \(status?.rawValue)::text)
                  AND (\(afterTime)::timestamptz IS NULL OR (created_at, id) > (\(afterTime)::timestamptz, \(afterID)::uuid))
                ORDER BY created_at, id LIMIT \(limit)
                """, logger: logger
            ).collect().map(Self.record)
        }
    }

    /// Moves the job along its status machine (409 for an illegal move); a COMPLETED job becomes the cached
    /// answer for its signature (replacing only an expired entry), unless its cache_seconds is 0.
    public func transition(_ id: UUID, to status: JobStatus, error: String?, by actor: AuditActor) async throws
        -> JobRecord
    {
        try await change { tx, trail in
            guard let current = try await Self.lock(id, on: tx, logger: logger) else { throw Self.noSuchJob }
            guard current.canMove(to: status), current != status else { throw Self.illegal(current, status) }
            if status != .canceled, try await Self.isEngineJob(id, on: tx, logger: logger) {
                throw TesseraError.conflict("the engine runs this job; it can only be cancelled by hand")
            }
            try await Self.move(
                id, from: current, to: status, error: error, by: actor, on: tx, trail: trail, logger: logger)
            return try await Self.job(id, on: tx, logger: logger)!
        }
    }

    /// Moves a locked job from `current` to `status` with its timeline entry and audit record. A COMPLETED job
    /// becomes the cached answer for its signature (replacing only an expired entry) unless its cache_seconds is
    /// 0; a CANCELED or FAILED one ends its executions still pending or running (those running marked for the
    /// engine to call their service's cancel operation).
    static func move(
        _ id: UUID, from current: JobStatus, to status: JobStatus, error: String?, by actor: AuditActor,
        on tx: PostgresConnection, trail: OrgAuditTrail, logger: Logger
    ) async throws {
        try await tx.sql(
            """
            UPDATE jobs SET status = \(status.rawValue)::job_status, error = coalesce(\(error), error),
                started_at = CASE WHEN \(status.rawValue) = 'RUNNING' THEN now() ELSE started_at END,
                finished_at = CASE WHEN \(status.isTerminal) THEN now() ELSE finished_at END
            WHERE id = \(id)
            """, logger: logger)
        if status == .completed {
            try await tx.sql(
                """
                INSERT INTO result_cache (input_signature, job_id, expires_at)
                SELECT input_signature, id, now() + make_interval(secs => cache_seconds) FROM jobs
                WHERE id = \(id) AND cache_seconds > 0 AND input_signature IS NOT NULL
                ON CONFLICT (input_signature) DO UPDATE SET job_id = EXCLUDED.job_id, hits = 0, created_at = now(),
                    expires_at = EXCLUDED.expires_at
                WHERE result_cache.expires_at IS NOT NULL AND result_cache.expires_at <= now()
                """, logger: logger)
        }
        var data = ["from": current.rawValue, "to": status.rawValue]
        if let error { data["error"] = error }
        try await Self.appendEvent(id, "status", data, on: tx, logger: logger)
        try await trail.record(
            .jobTransition, by: actor, entityType: "job", entityID: id,
            metadata: ["from": current.rawValue, "status": status.rawValue],
            job: JobMirror.Update(jobID: id, status: status))
        if status == .canceled || status == .failed {
            let ended = try await tx.sql(
                """
                UPDATE task_executions SET status = 'CANCELED', finished_at = now(), lease_owner = NULL,
                    cancel_pending = (status = 'RUNNING' AND service_id IS NOT NULL)
                WHERE job_id = \(id) AND status IN ('PENDING', 'RUNNING')
                RETURNING id
                """, logger: logger
            ).collect().map { try $0.decode(UUID.self) }
            if !ended.isEmpty {
                try await Self.appendEvent(
                    id, "executions_canceled",
                    ["execution_ids": ended.map { $0.uuidString.lowercased() }.sorted().joined(separator: ",")],
                    on: tx, logger: logger)
            }
        }
    }

    static func isEngineJob(_ job: UUID, on tx: PostgresConnection, logger: Logger) async throws -> Bool {
        try await tx.sql("SELECT dispatch = 'engine' FROM jobs WHERE id = \(job)", logger: logger).collect().first?
            .decode(Bool.self) ?? false
    }

    public func events(_ job: UUID, after: Int64, limit: Int) async throws -> [JobEvent]? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard try await Self.exists(job, on: connection, logger: logger) else { return nil }
            return try await connection.sql(
                "SELECT seq, kind, data::text, created_at FROM job_events WHERE job_id = \(job) AND seq > \(after) ORDER BY seq LIMIT \(limit)",
                logger: logger
            ).collect().map { row in
                let (seq, kind, data, created) = try row.decode((Int64, String, String, Date).self)
                return JobEvent(seq: seq, kind: kind, data: data, createdAt: created)
            }
        }
    }

    // MARK: task executions, logs, results

    /// A new attempt of a step (attempt = the step's last + 1); refused (409) once the job has finished.
    public func createExecution(_ job: UUID, stepKey: String, taskDefinitionID: UUID?, by actor: AuditActor)
        async throws
        -> TaskExecutionRecord
    {
        try await change { tx, trail in
            guard let status = try await Self.lock(job, on: tx, logger: logger) else { throw Self.noSuchJob }
            guard !status.isTerminal else {
                throw TesseraError.conflict("the job is \(status.rawValue); it takes no more executions")
            }
            guard try await !Self.isEngineJob(job, on: tx, logger: logger) else { throw Self.engineRuns }
            let id = try await tx.sql(
                """
                INSERT INTO task_executions (job_id, step_key, task_definition_id, attempt)
                SELECT \(job), \(stepKey), \(taskDefinitionID), coalesce(max(attempt), 0) + 1 FROM task_executions
                WHERE job_id = \(job) AND step_key = \(stepKey)
                RETURNING id
                """, logger: logger
            ).collect()[0].decode(UUID.self)
            let execution = try await Self.execution(id, job: job, on: tx, logger: logger)!
            try await Self.appendEvent(
                job, "execution_created",
                [
                    "execution_id": id.uuidString.lowercased(), "step_key": stepKey,
                    "attempt": String(execution.attempt),
                ],
                on: tx, logger: logger)
            try await trail.record(
                .jobExecutionCreate, by: actor, entityType: "job", entityID: job,
                metadata: ["execution_id": id.uuidString.lowercased(), "step_key": stepKey])
            return execution
        }
    }

    public func transitionExecution(
        _ job: UUID, execution id: UUID, to status: JobStatus, error: String?, by actor: AuditActor
    ) async throws
        -> TaskExecutionRecord
    {
        try await change { tx, trail in
            guard try await Self.lock(job, on: tx, logger: logger) != nil,
                let current = try await Self.execution(id, job: job, on: tx, logger: logger)
            else { throw Self.noSuchJob }
            guard current.status.canMove(to: status), current.status != status else {
                throw Self.illegal(current.status, status)
            }
            guard try await !Self.isEngineJob(job, on: tx, logger: logger) else { throw Self.engineRuns }
            try await tx.sql(
                """
                UPDATE task_executions SET status = \(status.rawValue)::job_status, error = coalesce(\(error), error),
                    started_at = CASE WHEN \(status.rawValue) = 'RUNNING' THEN now() ELSE started_at END,
                    finished_at = CASE WHEN \(status.isTerminal) THEN now() ELSE finished_at END
                WHERE id = \(id)
                """, logger: logger)
            try await Self.appendEvent(
                job, "execution_status",
                [
                    "execution_id": id.uuidString.lowercased(), "step_key": current.stepKey,
                    "from": current.status.rawValue,
                    "to": status.rawValue,
                ],
                on: tx, logger: logger)
            try await trail.record(
                .jobExecutionTransition, by: actor, entityType: "job", entityID: job,
                metadata: [
                    "execution_id": id.uuidString.lowercased(), "from": current.status.rawValue, "to": status.rawValue,
                ])
            return try await Self.execution(id, job: job, on: tx, logger: logger)!
        }
    }

    public func executions(_ job: UUID) async throws -> [TaskExecutionRecord]? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard try await Self.exists(job, on: connection, logger: logger) else { return nil }
            return try await connection.sql(
                """
                SELECT id, step_key, task_definition_id, status::text, attempt, error, started_at, finished_at
                FROM task_executions WHERE job_id = \(job) ORDER BY step_key, attempt
                """, logger: logger
            ).collect().map(Self.execution)
        }
    }

    /// Appends log lines to an execution (one audit event for the batch; no timeline entry per line).
    public func appendLogs(
        _ job: UUID, execution: UUID, _ entries: [(level: String, message: String)], by actor: AuditActor
    ) async throws
        -> Int
    {
        try await change { tx, trail in
            guard try await Self.lock(job, on: tx, logger: logger) != nil,
                try await Self.execution(execution, job: job, on: tx, logger: logger) != nil
            else { throw Self.noSuchJob }
            try await tx.sql(
                """
                INSERT INTO task_logs (task_execution_id, level, message)
                SELECT \(execution), l, m FROM unnest(\(entries.map(\.level))::text[], \(entries.map(\.message))::text[]) WITH ORDINALITY AS t(l, m, n)
                ORDER BY n
                """, logger: logger)
            try await trail.record(
                .jobLogAppend, by: actor, entityType: "job", entityID: job,
                metadata: ["execution_id": execution.uuidString.lowercased(), "lines": String(entries.count)])
            return entries.count
        }
    }

    /// A page of an execution's log lines after the line id `after`; nil when the job has no such execution.
    public func logs(_ job: UUID, execution: UUID, after: Int64, limit: Int) async throws -> [TaskLogRecord]? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard try await Self.execution(execution, job: job, on: connection, logger: logger) != nil else {
                return nil
            }
            return try await connection.sql(
                """
                SELECT id, logged_at, level, message FROM task_logs WHERE task_execution_id = \(execution) AND id > \(after)
                ORDER BY id LIMIT \(limit)
                """, logger: logger
            ).collect().map { row in
                let (id, at, level, message) = try row.decode((Int64, Date, String, String).self)
                return TaskLogRecord(id: id, loggedAt: at, level: level, message: message)
            }
        }
    }

    public func addResult(_ job: UUID, execution: UUID, result: String, by actor: AuditActor) async throws
        -> TaskResultRecord
    {
        try await change { tx, trail in
            guard try await Self.lock(job, on: tx, logger: logger) != nil,
                try await Self.execution(execution, job: job, on: tx, logger: logger) != nil
            else { throw Self.noSuchJob }
            guard try await !Self.isEngineJob(job, on: tx, logger: logger) else { throw Self.engineRuns }
            let (id, stored, created) = try await tx.sql(
                "INSERT INTO task_results (task_execution_id, result) VALUES (\(execution), \(result)::jsonb) RETURNING id, result::text, created_at",
                logger: logger
            ).collect()[0].decode((UUID, String, Date).self)
            try await Self.appendEvent(
                job, "task_result",
                ["execution_id": execution.uuidString.lowercased(), "result_id": id.uuidString.lowercased()],
                on: tx, logger: logger)
            try await trail.record(
                .jobResultAdd, by: actor, entityType: "job", entityID: job,
                metadata: ["execution_id": execution.uuidString.lowercased()])
            return TaskResultRecord(id: id, result: stored, createdAt: created)
        }
    }

    public func results(_ job: UUID, execution: UUID) async throws -> [TaskResultRecord]? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard try await Self.execution(execution, job: job, on: connection, logger: logger) != nil else {
                return nil
            }
            return try await connection.sql(
                "SELECT id, result::text, created_at FROM task_results WHERE task_execution_id = \(execution) ORDER BY created_at, id",
                logger: logger
            ).collect().map { row in
                let (id, result, created) = try row.decode((UUID, String, Date).self)
                return TaskResultRecord(id: id, result: result, createdAt: created)
            }
        }
    }

    // MARK: outputs and comments

    /// Records an output file; 409 when the job already has an output of that name.
    public func addOutput(_ job: UUID, _ file: JobFile, quotas: OrgQuotas = OrgQuotas(), by actor: AuditActor)
        async throws -> JobRecord
    {
        try await change { tx, trail in
            guard try await Self.lock(job, on: tx, logger: logger) != nil else { throw Self.noSuchJob }
            try await OrgQuotaCheck.check(
                .artifactBytes, quotas, adding: Int(file.sizeBytes ?? 0), on: tx, logger: logger)
            let taken = try await tx.sql(
                "SELECT EXISTS (SELECT 1 FROM job_outputs WHERE job_id = \(job) AND name = \(file.name))",
                logger: logger
            )
            .collect()[0].decode(Bool.self)
            guard !taken else { throw TesseraError.conflict("the job has an output named '\(file.name)'") }
            try await Self.insertFiles("job_outputs", job: job, [file], on: tx, logger: logger)
            try await Self.appendEvent(
                job, "output_added", ["name": file.name, "uri": file.uri], on: tx, logger: logger)
            try await trail.record(
                .jobOutputAdd, by: actor, entityType: "job", entityID: job, metadata: ["name": file.name])
            return try await Self.job(job, on: tx, logger: logger)!
        }
    }

    public func addComment(_ job: UUID, authorID: UUID?, authorDisplay: String?, body: String, by actor: AuditActor)
        async throws -> JobComment
    {
        try await change { tx, trail in
            guard try await Self.lock(job, on: tx, logger: logger) != nil else { throw Self.noSuchJob }
            let (id, created) = try await tx.sql(
                """
                INSERT INTO job_comments (job_id, author_id, author_display, body) VALUES (\(job), \(authorID), \(authorDisplay), \(body))
                RETURNING id, created_at
                """, logger: logger
            ).collect()[0].decode((UUID, Date).self)
            try await Self.appendEvent(
                job, "comment", ["comment_id": id.uuidString.lowercased()], on: tx, logger: logger)
            try await trail.record(
                .jobCommentAdd, by: actor, entityType: "job", entityID: job,
                metadata: ["comment_id": id.uuidString.lowercased()])
            return JobComment(id: id, authorID: authorID, authorDisplay: authorDisplay, body: body, createdAt: created)
        }
    }

    public func comments(_ job: UUID) async throws -> [JobComment]? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard try await Self.exists(job, on: connection, logger: logger) else { return nil }
            return try await connection.sql(
                "SELECT id, author_id, author_display, body, created_at FROM job_comments WHERE job_id = \(job) ORDER BY created_at, id",
                logger: logger
            ).collect().map { row in
                let (id, author, display, body, created) = try row.decode((UUID, UUID?, String?, String, Date).self)
                return JobComment(id: id, authorID: author, authorDisplay: display, body: body, createdAt: created)
            }
        }
    }

    /// Runs `body` in a transaction on the org's database holding the pipeline's `pipelineUse` lock exclusively (no
    /// job of it can be created meanwhile); `body` gets a count of the org's jobs of the given versions, made in that
    /// transaction. What `body` commits elsewhere before returning is seen by every job created after.
    public func holdingPipeline<T: Sendable>(
        _ pipeline: UUID,
        _ body:
            @escaping @Sendable (_ jobsOf: @escaping @Sendable ([UUID]) async throws -> Int)
            async throws -> T
    ) async throws -> T {
        try await databases.withTransaction(org: org, logger: logger) { [logger] tx in
            try await tx.sql(
                "SELECT pg_advisory_xact_lock(\(AdvisoryLock.pipelineUse), hashtext(\(pipeline)::text))",
                logger: logger)
            return try await body { versions in
                try await tx.sql(
                    "SELECT count(*) FROM jobs WHERE pipeline_version_id = ANY(\(versions))", logger: logger
                ).collect()[0].decode(Int.self)
            }
        }
    }

    // MARK: helpers

    static let noSuchJob = TesseraError.notFound("no such job or execution")
    static let engineRuns = TesseraError.conflict("the engine runs this job's executions; they are not moved by hand")

    static func illegal(_ from: JobStatus, _ to: JobStatus) -> TesseraError {
        .conflict(
            "cannot move from \(from.rawValue) to \(to.rawValue): PENDING → RUNNING → COMPLETED | FAILED, PENDING | RUNNING → CANCELED"
        )
    }

    /// A change to the org's jobs with its audit records (`TenantDatabases.change`).
    func change<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, OrgAuditTrail) async throws -> T)
        async throws -> T
    {
        try await databases.change(org: org, logger: logger, body)
    }

    /// Locks the job's row (every change to a job goes through it, so its timeline stays dense); its status.
    @discardableResult
    static func lock(_ job: UUID, on tx: PostgresConnection, logger: Logger) async throws -> JobStatus? {
        try await tx.sql("SELECT status::text FROM jobs WHERE id = \(job) FOR UPDATE", logger: logger)
            .collect().first.map { JobStatus(rawValue: try $0.decode(String.self))! }
    }

    static func exists(_ job: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.sql("SELECT EXISTS (SELECT 1 FROM jobs WHERE id = \(job))", logger: logger).collect()[0]
            .decode(Bool.self)
    }

    /// Appends to the job's timeline; the caller holds the job's row lock.
    static func appendEvent(
        _ job: UUID, _ kind: String, _ data: [String: String], on tx: PostgresConnection, logger: Logger
    ) async throws {
        let json = String(
            decoding: try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys]), as: UTF8.self)
        try await tx.sql(
            """
            INSERT INTO job_events (job_id, seq, kind, data)
            SELECT \(job), coalesce(max(seq), 0) + 1, \(kind), \(json)::jsonb FROM job_events WHERE job_id = \(job)
            """, logger: logger)
    }

    static func insertFiles(_ table: String, job: UUID, _ files: [JobFile], on tx: PostgresConnection, logger: Logger)
        async throws
    {
        precondition(table == "job_inputs" || table == "job_outputs")
        // Arrays cannot carry NULLs through the driver: digests travel as hex ('' for none), sizes as -1.
        try await tx.sql(
            """
            INSERT INTO \(unescaped: table) (job_id, name, uri, content_type, sha256, size_bytes)
            SELECT \(job), n, u, c, CASE WHEN h = '' THEN NULL ELSE decode(h, 'hex') END, CASE WHEN s < 0 THEN NULL ELSE s END
            FROM unnest(\(files.map(\.name))::text[], \(files.map(\.uri))::text[], \(files.map(\.contentType))::text[],
                        \(files.map { $0.sha256.map { Data($0).hexString } ?? "" })::text[], \(files.map { $0.sizeBytes ?? -1 })::int8[])
                 AS t(n, u, c, h, s)
            """, logger: logger)
    }

    static func job(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> JobRecord? {
        guard
            var job = try await connection.sql(
                "SELECT \(unescaped: jobColumns) FROM jobs WHERE id = \(id)", logger: logger
            )
            .collect().first.map(record)
        else { return nil }
        job.inputs = try await files("job_inputs", job: id, on: connection, logger: logger)
        job.outputs = try await files("job_outputs", job: id, on: connection, logger: logger)
        return job
    }

    static func files(_ table: String, job: UUID, on connection: PostgresConnection, logger: Logger) async throws
        -> [JobFile]
    {
        try await connection.sql(
            "SELECT name, uri, content_type, sha256, size_bytes FROM \(unescaped: table) WHERE job_id = \(job) ORDER BY name",
            logger: logger
        ).collect().map { row in
            let (name, uri, type, digest, size) = try row.decode((String, String, String, Data?, Int64?).self)
            return JobFile(name: name, uri: uri, contentType: type, sha256: digest.map { Array($0) }, sizeBytes: size)
        }
    }

    static func record(_ row: PostgresRow) throws -> JobRecord {
        let columns = row.makeRandomAccess()
        return JobRecord(
            id: try columns[0].decode(UUID.self), pipelineVersionID: try columns[1].decode(UUID?.self),
            status: JobStatus(rawValue: try columns[2].decode(String.self)) ?? .pending,
            params: try columns[3].decode(String.self),
            inputSignature: Array(try columns[4].decode(Data?.self) ?? Data()),
            priority: try columns[5].decode(Int.self),
            cacheSeconds: try columns[6].decode(Int.self), createdBy: try columns[7].decode(UUID?.self),
            error: try columns[8].decode(String?.self),
            createdAt: try columns[9].decode(Date.self), startedAt: try columns[10].decode(Date?.self),
            finishedAt: try columns[11].decode(Date?.self), dispatch: try columns[12].decode(String.self),
            useCache: try columns[13].decode(Bool.self))
    }

    static func execution(_ id: UUID, job: UUID, on connection: PostgresConnection, logger: Logger) async throws
        -> TaskExecutionRecord?
    {
        try await connection.sql(
            """
            SELECT id, step_key, task_definition_id, status::text, attempt, error, started_at, finished_at
            FROM task_executions WHERE id = \(id) AND job_id = \(job)
            """, logger: logger
        ).collect().first.map(execution)
    }

    static func execution(_ row: PostgresRow) throws -> TaskExecutionRecord {
        let (id, step, definition, status, attempt, error, started, finished) =
            try row.decode((UUID, String, UUID?, String, Int, String?, Date?, Date?).self)
        return TaskExecutionRecord(
            id: id, stepKey: step, taskDefinitionID: definition, status: JobStatus(rawValue: status) ?? .pending,
            attempt: attempt,
            error: error, startedAt: started, finishedAt: finished)
    }
}
