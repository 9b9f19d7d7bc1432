import Crypto
import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// A healthy task service the engine may call.
public struct EngineService: Sendable, Equatable {
    public let id: UUID
    public let url: String

    public init(id: UUID, url: String) {
        self.id = id
        self.url = url
    }
}

/// What the engine knows from the metadata database for one round of an org: the steps of the pipeline versions
/// its jobs run, the service config of their definitions, and the healthy services of each definition.
public struct EngineKnowledge: Sendable {
    public var versions: [UUID: [ResolvedStep]] = [:]
    public var configs: [UUID: TaskServiceConfig] = [:]
    public var services: [UUID: [EngineService]] = [:]

    public init() {}
}

/// An execution this process has claimed and must now call its service for.
public struct EngineCall: Sendable {
    public let org: UUID
    public let jobID: UUID
    /// The job's pipeline version.
    public let version: UUID
    public let executionID: UUID
    public let stepKey: String
    public let attempt: Int
    public let definitionID: UUID
    public let service: EngineService
    /// The request body (JSON): job, execution, step, attempt, params, inputs (the results of the step's
    /// dependencies, by step key), files (the job's inputs) and the callback URL with its token.
    public let body: Data
}

/// An execution of a cancelled job that was running: its service's cancel operation is to be called.
public struct EngineCancel: Sendable {
    public let executionID: UUID
    public let jobID: UUID
    public let definitionID: UUID?
    public let serviceID: UUID?
}

/// How a call ended.
public enum EngineOutcome: Sendable {
    /// The service's result (JSON text).
    case completed(String)
    /// The service took the work and will report to the callback URL.
    case accepted
    /// The attempt failed: why (the service's answer, shortened), and whether another attempt may help.
    case failed(String, retryable: Bool)
}

/// The job engine's work in one org's database: settling its jobs (starting steps whose dependencies have
/// completed, completing or failing jobs), handing out due executions to this process under the org's caps, and
/// recording how calls ended. Every change is a job event and an audit record (by "job engine").
public struct JobEngineStore: Sendable {
    public let org: UUID
    let databases: TenantDatabases
    let logger: Logger

    public static let actor = AuditActor(kind: .system, display: "job engine")

    public init(org: UUID, databases: TenantDatabases, logger: Logger) {
        self.org = org
        self.databases = databases
        self.logger = logger
    }

    /// The pipeline versions of the org's engine jobs still pending or running, and whether executions await a
    /// cancel call; nothing to do when both are empty.
    public func pending() async throws -> (versions: [UUID], cancels: Bool) {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            let versions = try await connection.sql(
                """
                SELECT DISTINCT pipeline_version_id FROM jobs
                WHERE dispatch = 'engine' AND status IN ('PENDING', 'RUNNING') AND pipeline_version_id IS NOT NULL
                """, logger: logger
            ).collect().map { try $0.decode(UUID.self) }
            let cancels = try await connection.sql(
                "SELECT EXISTS (SELECT 1 FROM task_executions WHERE cancel_pending)", logger: logger
            ).collect()[0].decode(Bool.self)
            return (versions, cancels)
        }
    }

    /// One round: ends attempts whose lease ran out, settles every active engine job, and claims due executions
    /// for `owner` while the org runs fewer than `maxRunning` (and each definition fewer than its
    /// `max_concurrency`) and a healthy service is known. A step whose request matches a completed execution of
    /// the same definition is answered from it (when the job allows) instead of being claimed.
    /// `link` signs a short-lived download URL for an artifact of the org: the request gives one for each input
    /// file that is an artifact, beside `artifact_upload_url`, where the service may store files it makes. A claimed
    /// execution's lease is its timeout and `leaseGrace` seconds: a process that stopped mid-call is noticed then.
    /// Jobs are settled here when new (PENDING), when an attempt of theirs ran out of lease, or, with `settleAll`,
    /// every one (a safety net: recording a call's end and a callback settle their own job).
    public func round(
        _ knowledge: EngineKnowledge, owner: String, maxRunning: Int, leaseGrace: Int, callbackBase: String,
        settleAll: Bool, link: @escaping @Sendable (UUID) -> String
    ) async throws -> (calls: [EngineCall], cancels: [EngineCancel]) {
        try await databases.change(org: org, logger: logger) { [org, logger] tx, trail in
            try await tx.sql("SELECT pg_advisory_xact_lock(\(AdvisoryLock.engineRound), 0)", logger: logger)
            let jobs = try await tx.sql(
                """
                SELECT id, status::text, pipeline_version_id, params::text, use_cache FROM jobs
                WHERE dispatch = 'engine' AND status IN ('PENDING', 'RUNNING')
                ORDER BY priority DESC, created_at, id LIMIT 200 FOR UPDATE
                """, logger: logger
            ).collect().map { row in
                let (id, status, version, params, cache) = try row.decode((UUID, String, UUID?, String, Bool).self)
                return ActiveJob(
                    id: id, status: JobStatus(rawValue: status) ?? .pending, version: version, params: params,
                    useCache: cache)
            }
            let work = Work(tx: tx, trail: trail, logger: logger)
            // Attempts whose lease ran out: the process calling them stopped, or no callback came in time.
            let expired = try await tx.sql(
                """
                SELECT e.id, e.job_id, e.step_key, e.attempt, e.task_definition_id, e.lease_owner IS NULL
                FROM task_executions e
                WHERE e.status = 'RUNNING' AND e.lease_expires_at < now() AND e.job_id = ANY(\(jobs.map(\.id)))
                """, logger: logger
            ).collect().map { try $0.decode((UUID, UUID, String, Int, UUID?, Bool).self) }
            for (id, job, step, attempt, definition, awaitingCallback) in expired {
                let config = definition.flatMap { knowledge.configs[$0] } ?? TaskServiceConfig()
                let reason =
                    awaitingCallback
                    ? "no callback within \(config.timeoutSeconds) s"
                    : "the gateway calling the service stopped (its lease ran out)"
                try await work.fail(
                    id, job: job, step: step, attempt: attempt, definition: definition, error: reason,
                    retryable: true, config: config)
            }
            let lapsed = Set(expired.map(\.1))
            for job in jobs where settleAll || job.status == .pending || lapsed.contains(job.id) {
                guard let version = job.version, let steps = knowledge.versions[version] else {
                    try await work.end(job.id, from: job.status, to: .failed, error: "its pipeline version is gone")
                    continue
                }
                try await work.settle(job.id, status: job.status, steps: steps)
            }
            // Claims, highest-priority jobs first, under the org's and each definition's caps.
            var running = Dictionary(
                uniqueKeysWithValues: try await tx.sql(
                    """
                    SELECT coalesce(task_definition_id, '00000000-0000-0000-0000-000000000000'::uuid), count(*)
                    FROM task_executions WHERE status = 'RUNNING' GROUP BY 1
                    """, logger: logger
                ).collect().map { try $0.decode((UUID, Int).self) })
            var total = running.values.reduce(0, +)
            var calls: [EngineCall] = []
            let byID = Dictionary(uniqueKeysWithValues: jobs.map { ($0.id, $0) })
            let due = try await tx.sql(
                """
                SELECT e.id, e.job_id, e.step_key, e.attempt, e.task_definition_id FROM task_executions e
                JOIN jobs j ON j.id = e.job_id
                WHERE e.status = 'PENDING' AND e.due_at <= now() AND j.dispatch = 'engine' AND j.status = 'RUNNING'
                ORDER BY j.priority DESC, j.created_at, j.id, e.step_key
                """, logger: logger
            ).collect().map { try $0.decode((UUID, UUID, String, Int, UUID?).self) }
            for (id, jobID, step, attempt, definition) in due {
                guard let job = byID[jobID], let definition, let version = job.version,
                    let steps = knowledge.versions[version], let config = knowledge.configs[definition]
                else { continue }
                let request = try await work.request(
                    job: job, execution: id, step: step, attempt: attempt, steps: steps, definition: definition)
                if job.useCache, steps.first(where: { $0.step.key == step })?.step.cache ?? true,
                    try await work.answerFromCache(
                        id, job: jobID, step: step, definition: definition, digest: request.digest)
                {
                    try await work.settle(jobID, status: .running, steps: steps)
                    continue
                }
                guard total < maxRunning,
                    config.maxConcurrency == 0 || running[definition, default: 0] < config.maxConcurrency,
                    let services = knowledge.services[definition], !services.isEmpty
                else { continue }
                let service = services[(attempt - 1 + abs(id.hashValue % 7)) % services.count]
                let secret = Self.randomToken()
                try await tx.sql(
                    """
                    UPDATE task_executions SET status = 'RUNNING', started_at = now(), lease_owner = \(owner),
                        lease_expires_at = now() + make_interval(secs => \(config.timeoutSeconds + leaseGrace)),
                        service_id = \(service.id), callback_sha256 = \(Data(SHA256.hash(data: Data(secret.utf8)))),
                        input_sha256 = \(Data(request.digest))
                    WHERE id = \(id)
                    """, logger: logger)
                try await work.executionEvent(
                    id, job: jobID, step: step, from: .pending, to: .running,
                    extra: ["service_id": service.id.uuidString.lowercased(), "attempt": String(attempt)])
                running[definition, default: 0] += 1
                total += 1
                let token = "\(org.uuidString.lowercased()).\(id.uuidString.lowercased()).\(secret)"
                calls.append(
                    EngineCall(
                        org: org, jobID: jobID, version: version, executionID: id, stepKey: step, attempt: attempt,
                        definitionID: definition, service: service,
                        body: request.body(
                            callbackURL: "\(callbackBase)/v1/task-callbacks/\(token)",
                            uploadURL: "\(callbackBase)/v1/task-artifacts/\(token)", link: link)))
            }
            let cancels = try await tx.sql(
                """
                UPDATE task_executions SET cancel_pending = false WHERE cancel_pending
                RETURNING id, job_id, task_definition_id, service_id
                """, logger: logger
            ).collect().map { row in
                let (id, job, definition, service) = try row.decode((UUID, UUID, UUID?, UUID?).self)
                return EngineCancel(executionID: id, jobID: job, definitionID: definition, serviceID: service)
            }
            return (calls, cancels)
        }
    }

    /// Records how this process's call of an execution ended, then settles its job; false when the execution is
    /// no longer this process's to end (cancelled meanwhile, or its lease ran out and another attempt began).
    @discardableResult
    public func finish(
        _ call: EngineCall, _ outcome: EngineOutcome, owner: String, steps: [ResolvedStep], config: TaskServiceConfig
    ) async throws -> Bool {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            guard let job = try await JobRepository.lock(call.jobID, on: tx, logger: logger), job == .running else {
                return false
            }
            let mine = try await tx.sql(
                """
                SELECT EXISTS (SELECT 1 FROM task_executions WHERE id = \(call.executionID) AND status = 'RUNNING'
                               AND lease_owner = \(owner))
                """, logger: logger
            ).collect()[0].decode(Bool.self)
            guard mine else { return false }
            let work = Work(tx: tx, trail: trail, logger: logger)
            try await work.record(
                outcome, execution: call.executionID, job: call.jobID, step: call.stepKey, attempt: call.attempt,
                definition: call.definitionID, config: config)
            try await work.settle(call.jobID, status: .running, steps: steps)
            return true
        }
    }

    /// The execution a callback token names, when the token is its own and it is still waiting for one.
    public func callbackTarget(_ execution: UUID, secret: String) async throws -> (
        job: UUID, step: String, attempt: Int, definition: UUID?, version: UUID?
    )? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                """
                SELECT e.job_id, e.step_key, e.attempt, e.task_definition_id, j.pipeline_version_id FROM task_executions e
                JOIN jobs j ON j.id = e.job_id
                WHERE e.id = \(execution) AND e.status = 'RUNNING'
                  AND e.callback_sha256 = \(Data(SHA256.hash(data: Data(secret.utf8))))
                """, logger: logger
            ).collect().first?.decode((UUID, String, Int, UUID?, UUID?).self)
        }
    }

    /// Records a callback's outcome (completed or failed) for an execution still running with that token; false
    /// when it is not (already ended, cancelled, or another token).
    public func callback(
        _ execution: UUID, secret: String, _ outcome: EngineOutcome, steps: [ResolvedStep], config: TaskServiceConfig,
        by actor: AuditActor
    ) async throws -> Bool {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            guard
                let (job, step, attempt, definition) = try await tx.sql(
                    """
                    SELECT job_id, step_key, attempt, task_definition_id FROM task_executions
                    WHERE id = \(execution) AND callback_sha256 = \(Data(SHA256.hash(data: Data(secret.utf8))))
                    """, logger: logger
                ).collect().first?.decode((UUID, String, Int, UUID?).self),
                try await JobRepository.lock(job, on: tx, logger: logger) == .running,
                try await tx.sql(
                    "SELECT status = 'RUNNING' FROM task_executions WHERE id = \(execution) FOR UPDATE", logger: logger
                ).collect().first?.decode(Bool.self) == true
            else { return false }
            let work = Work(tx: tx, trail: trail, logger: logger, actor: actor)
            try await work.record(
                outcome, execution: execution, job: job, step: step, attempt: attempt, definition: definition,
                config: config)
            try await work.settle(job, status: .running, steps: steps)
            return true
        }
    }

    /// 32 random bytes as 64 hex digits: a callback token's secret part.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
    }

    struct ActiveJob: Sendable {
        let id: UUID
        let status: JobStatus
        let version: UUID?
        let params: String
        let useCache: Bool
    }

    /// A step's request before it has an execution-specific part: the canonical digest of what it asks for
    /// (definition, params, inputs, files), which the result cache matches, and the pieces of its body.
    struct Request {
        let digest: [UInt8]
        let fields: [String: Any]

        func body(callbackURL: String, uploadURL: String, link: (UUID) -> String) -> Data {
            var fields = fields
            fields["callback_url"] = callbackURL
            fields["artifact_upload_url"] = uploadURL
            fields["files"] = ((fields["files"] as? [[String: Any]]) ?? []).map { file in
                guard let uri = file["uri"] as? String, let id = JobFile.artifactID(uri) else { return file }
                var file = file
                file["artifact_id"] = id.uuidString.lowercased()
                file["download_url"] = link(id)
                return file
            }
            return (try? CanonicalJSON.encode(fields)).map { Data($0) } ?? Data("{}".utf8)
        }
    }

    /// One change's work on locked jobs: the shared steps of `round`, `finish` and `callback`.
    struct Work {
        let tx: PostgresConnection
        let trail: OrgAuditTrail
        let logger: Logger
        var actor = JobEngineStore.actor

        /// Starts the steps that are ready, or ends the job when every step has completed or one has failed.
        func settle(_ job: UUID, status: JobStatus, steps: [ResolvedStep]) async throws {
            let latest = try await tx.sql(
                """
                SELECT DISTINCT ON (step_key) step_key, status::text, error FROM task_executions
                WHERE job_id = \(job) ORDER BY step_key, attempt DESC
                """, logger: logger
            ).collect().map { try $0.decode((String, String, String?).self) }
            var attempts: [String: JobPlan.Attempt] = [:]
            for (step, state, error) in latest {
                attempts[step] = JobPlan.Attempt(status: JobStatus(rawValue: state) ?? .pending, error: error)
            }
            switch JobPlan.next(steps.map(\.step), latest: attempts) {
            case .completed:
                try await end(job, from: status, to: .completed, error: nil)
            case .failed(let step, let error):
                try await end(job, from: status, to: .failed, error: "step '\(step)' failed: \(error)")
            case .start(let keys):
                guard !keys.isEmpty else { return }
                if status == .pending { try await end(job, from: .pending, to: .running, error: nil) }
                for key in keys {
                    guard let step = steps.first(where: { $0.step.key == key }) else { continue }
                    let id = try await tx.sql(
                        """
                        INSERT INTO task_executions (job_id, step_key, task_definition_id, attempt)
                        VALUES (\(job), \(key), \(step.definitionID), 1) RETURNING id
                        """, logger: logger
                    ).collect()[0].decode(UUID.self)
                    try await created(id, job: job, step: key, attempt: 1)
                }
            }
        }

        /// Moves the job (PENDING → RUNNING, or to its end).
        func end(_ job: UUID, from: JobStatus, to: JobStatus, error: String?) async throws {
            guard from.canMove(to: to) else { return }
            try await JobRepository.move(
                job, from: from, to: to, error: error, by: actor, on: tx, trail: trail, logger: logger)
        }

        func created(_ id: UUID, job: UUID, step: String, attempt: Int) async throws {
            try await JobRepository.appendEvent(
                job, "execution_created",
                ["execution_id": id.uuidString.lowercased(), "step_key": step, "attempt": String(attempt)],
                on: tx, logger: logger)
            try await trail.record(
                .jobExecutionCreate, by: actor, entityType: "job", entityID: job,
                metadata: ["execution_id": id.uuidString.lowercased(), "step_key": step])
        }

        func executionEvent(
            _ id: UUID, job: UUID, step: String, from: JobStatus, to: JobStatus, extra: [String: String] = [:]
        ) async throws {
            var data = ["execution_id": id.uuidString.lowercased(), "step_key": step, "from": from.rawValue]
            data["to"] = to.rawValue
            data.merge(extra) { a, _ in a }
            try await JobRepository.appendEvent(job, "execution_status", data, on: tx, logger: logger)
            var metadata = ["execution_id": id.uuidString.lowercased(), "from": from.rawValue, "to": to.rawValue]
            metadata.merge(extra.filter { $0.key != "error" }) { a, _ in a }
            try await trail.record(
                .jobExecutionTransition, by: actor, entityType: "job", entityID: job, metadata: metadata)
        }

        /// Ends a running attempt as failed and, when it may be retried and retries are left, adds the next attempt,
        /// due after the back-off.
        func fail(
            _ id: UUID, job: UUID, step: String, attempt: Int, definition: UUID?, error: String, retryable: Bool,
            config: TaskServiceConfig
        ) async throws {
            try await tx.sql(
                """
                UPDATE task_executions SET status = 'FAILED', error = \(error), finished_at = now(), lease_owner = NULL
                WHERE id = \(id)
                """, logger: logger)
            try await executionEvent(id, job: job, step: step, from: .running, to: .failed, extra: ["error": error])
            guard retryable, attempt <= config.retries else { return }
            let wait = config.backoff(after: attempt)
            let next = try await tx.sql(
                """
                INSERT INTO task_executions (job_id, step_key, task_definition_id, attempt, due_at)
                VALUES (\(job), \(step), \(definition), \(attempt + 1),
                        now() + make_interval(secs => \(wait.inSeconds)))
                RETURNING id
                """, logger: logger
            ).collect()[0].decode(UUID.self)
            try await created(next, job: job, step: step, attempt: attempt + 1)
        }

        /// Records a call's outcome for a running attempt.
        func record(
            _ outcome: EngineOutcome, execution: UUID, job: UUID, step: String, attempt: Int, definition: UUID?,
            config: TaskServiceConfig
        ) async throws {
            switch outcome {
            case .accepted:
                // From now on the lease is the deadline for the callback, held by no process.
                try await tx.sql(
                    "UPDATE task_executions SET lease_owner = NULL WHERE id = \(execution)", logger: logger)
                try await JobRepository.appendEvent(
                    job, "execution_accepted", ["execution_id": execution.uuidString.lowercased(), "step_key": step],
                    on: tx, logger: logger)
            case .completed(let result):
                // What the answer carries for the org's tables: docking poses, sequence embeddings.
                let poses: [DockingPose]
                let embeddings: SequenceEmbeddings?
                switch DockingPose.parse(result).flatMap({ p in SequenceEmbeddings.parse(result).map { (p, $0) } }) {
                case .failure(let problem):
                    try await fail(
                        execution, job: job, step: step, attempt: attempt, definition: definition,
                        error: "the answer's \(problem.reason)", retryable: false, config: config)
                    return
                case .success(let parsed): (poses, embeddings) = parsed
                }
                var missing = try await missingReferences(poses)
                if missing == nil, let embeddings {
                    missing = try await ProteinRepository.unstorable(embeddings, on: tx, logger: logger)
                }
                if let missing {
                    try await fail(
                        execution, job: job, step: step, attempt: attempt, definition: definition,
                        error: "the answer's \(missing)", retryable: false, config: config)
                    return
                }
                let resultID = try await tx.sql(
                    "INSERT INTO task_results (task_execution_id, result) VALUES (\(execution), \(result)::jsonb) RETURNING id",
                    logger: logger
                ).collect()[0].decode(UUID.self)
                try await tx.sql(
                    """
                    UPDATE task_executions SET status = 'COMPLETED', finished_at = now(), lease_owner = NULL
                    WHERE id = \(execution)
                    """, logger: logger)
                if !poses.isEmpty { try await insert(poses, job: job, execution: execution) }
                if let embeddings { try await store(embeddings, job: job) }
                try await executionEvent(
                    execution, job: job, step: step, from: .running, to: .completed,
                    extra: ["result_id": resultID.uuidString.lowercased()])
            case .failed(let error, let retryable):
                try await fail(
                    execution, job: job, step: step, attempt: attempt, definition: definition, error: error,
                    retryable: retryable, config: config)
            }
        }

        /// Stores a task's vectors under their recipe, audited as an upload is (`embedding.store`), by the engine.
        func store(_ embeddings: SequenceEmbeddings, job: UUID) async throws {
            let stored = try await ProteinRepository.insertVectors(
                embeddings.vectors.map { ($0.accession, $0.values) }, config: embeddings.configID, on: tx,
                logger: logger)
            try await trail.record(
                .embeddingStore, by: actor, entityType: "embedding_config", entityID: embeddings.configID,
                metadata: [
                    "vectors": String(embeddings.vectors.count), "sequences": String(stored),
                    "job_id": job.uuidString.lowercased(),
                ])
        }

        /// The first pose naming an artifact or molecule the org does not have, as a problem; nil when all are.
        func missingReferences(_ poses: [DockingPose]) async throws -> String? {
            let artifacts = Array(Set(poses.compactMap(\.poseArtifactID)))
            let molecules = Array(Set(poses.compactMap(\.moleculeID)))
            guard !artifacts.isEmpty || !molecules.isEmpty else { return nil }
            var known = Set(
                try await tx.sql(
                    "SELECT id FROM artifacts WHERE id = ANY(\(artifacts))", logger: logger
                ).collect().map { try $0.decode(UUID.self) })
            known.formUnion(
                try await tx.sql(
                    "SELECT id FROM molecules WHERE id = ANY(\(molecules))", logger: logger
                ).collect().map { try $0.decode(UUID.self) })
            for (index, pose) in poses.enumerated() {
                if let id = pose.poseArtifactID, !known.contains(id) {
                    return
                        "docking_results[\(index)].pose_artifact_id: the org has no artifact \(id.uuidString.lowercased())"
                }
                if let id = pose.moleculeID, !known.contains(id) {
                    return
                        "docking_results[\(index)].molecule_id: the org has no molecule \(id.uuidString.lowercased())"
                }
            }
            return nil
        }

        func insert(_ poses: [DockingPose], job: UUID, execution: UUID) async throws {
            // Arrays cannot carry NULLs through the driver: a missing rmsd travels as NaN, a missing id as ''.
            try await tx.sql(
                """
                INSERT INTO docking_results (job_id, ligand, pose_rank, affinity, rmsd, molecule_id, pose_artifact_id,
                                             task_execution_id, metadata)
                SELECT \(job), l, r, a, CASE WHEN s = 'NaN'::float8 THEN NULL ELSE s END, nullif(m, '')::uuid,
                       nullif(p, '')::uuid, \(execution), d::jsonb
                FROM unnest(\(poses.map(\.ligand))::text[], \(poses.map(\.rank))::int4[], \(poses.map(\.affinity))::float8[],
                            \(poses.map { $0.rmsd ?? .nan })::float8[],
                            \(poses.map { $0.moleculeID?.uuidString ?? "" })::text[],
                            \(poses.map { $0.poseArtifactID?.uuidString ?? "" })::text[], \(poses.map(\.metadata))::text[])
                     AS t(l, r, a, s, m, p, d)
                """, logger: logger)
        }

        /// The request of a step: the job's params, the results of the step's dependencies and the job's files.
        func request(
            job: ActiveJob, execution: UUID, step: String, attempt: Int, steps: [ResolvedStep], definition: UUID
        ) async throws -> Request {
            let dependsOn = steps.first { $0.step.key == step }?.step.dependsOn ?? []
            var inputs: [String: Any] = [:]
            if !dependsOn.isEmpty {
                let rows = try await tx.sql(
                    """
                    SELECT DISTINCT ON (e.step_key) e.step_key, r.result::text FROM task_executions e
                    JOIN task_results r ON r.task_execution_id = e.id
                    WHERE e.job_id = \(job.id) AND e.status = 'COMPLETED' AND e.step_key = ANY(\(dependsOn))
                    ORDER BY e.step_key, e.attempt DESC, r.created_at DESC
                    """, logger: logger
                ).collect().map { try $0.decode((String, String).self) }
                for (key, text) in rows {
                    inputs[key] = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
                }
            }
            let files: [[String: Any]] = try await JobRepository.files(
                "job_inputs", job: job.id, on: tx, logger: logger
            )
            .map { file in
                var entry: [String: Any] = ["name": file.name, "uri": file.uri, "content_type": file.contentType]
                entry["sha256"] = file.sha256.map { $0.hexString } ?? NSNull()
                entry["size_bytes"] = file.sizeBytes.map { NSNumber(value: $0) } ?? NSNull()
                return entry
            }
            let params = try JSONSerialization.jsonObject(with: Data(job.params.utf8), options: .fragmentsAllowed)
            let asked: [String: Any] = [
                "task_definition_id": definition.uuidString.lowercased(), "params": params, "inputs": inputs,
                "files": files,
            ]
            let digest = SHA256.hash(data: try CanonicalJSON.encode(asked)).bytes
            return Request(
                digest: digest,
                fields: [
                    "job_id": job.id.uuidString.lowercased(), "execution_id": execution.uuidString.lowercased(),
                    "step_key": step, "attempt": attempt, "params": params, "inputs": inputs, "files": files,
                ])
        }

        /// Completes a pending execution from a completed one of the same definition and request digest (its
        /// latest result copied); false when there is none.
        func answerFromCache(_ id: UUID, job: UUID, step: String, definition: UUID, digest: [UInt8]) async throws
            -> Bool
        {
            guard
                let (source, result) = try await tx.sql(
                    """
                    SELECT e.id, r.result::text FROM task_executions e JOIN task_results r ON r.task_execution_id = e.id
                    WHERE e.task_definition_id = \(definition) AND e.input_sha256 = \(Data(digest))
                      AND e.status = 'COMPLETED'
                    ORDER BY e.finished_at DESC, r.created_at DESC LIMIT 1
                    """, logger: logger
                ).collect().first?.decode((UUID, String).self)
            else { return false }
            try await tx.sql(
                """
                UPDATE task_executions SET status = 'RUNNING', started_at = now(), cache_hit = true,
                    input_sha256 = \(Data(digest))
                WHERE id = \(id)
                """, logger: logger)
            try await tx.sql(
                "UPDATE task_executions SET status = 'COMPLETED', finished_at = now() WHERE id = \(id)", logger: logger)
            let resultID = try await tx.sql(
                "INSERT INTO task_results (task_execution_id, result) VALUES (\(id), \(result)::jsonb) RETURNING id",
                logger: logger
            ).collect()[0].decode(UUID.self)
            try await executionEvent(
                id, job: job, step: step, from: .pending, to: .completed,
                extra: [
                    "cache_hit": "true", "cached_from": source.uuidString.lowercased(),
                    "result_id": resultID.uuidString.lowercased(),
                ])
            return true
        }
    }
}
