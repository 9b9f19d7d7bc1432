import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/orgs/{org}/jobs`: jobs in the org's own database, their timeline, executions, logs, results, outputs
/// and comments; `/v1/jobs` across orgs for platform admins.
struct JobsController: TenantController {
    let client: PostgresClient
    let tenants: TenantDatabases
    let orgs: OrgStatusLookup
    let engine: EngineWaker
    let catalog: EngineCatalog
    let baseLogger: Logger

    func createJob(_ input: Operations.createJob.Input) async throws -> Operations.createJob.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let org = try Tenant.required().orgID
        let versionID = try Self.reference(body.pipeline_version_id, "pipeline_version_id")
        let cacheSeconds = body.cache_seconds ?? 604_800
        guard cacheSeconds >= 0 else { throw TesseraError.badRequest("cache_seconds must be 0 or more") }
        var inputs: [JobFile] = []
        for (i, file) in (body.inputs ?? []).enumerated() {
            inputs.append(try await jobFile(file, org: org, path: "inputs[\(i)]"))
        }
        guard Set(inputs.map(\.name)).count == inputs.count else {
            throw TesseraError.unprocessable("inputs: names must be unique")
        }
        let (schema, cached) = try await start(
            versionID, params: try Self.jsonText(body.params ?? .init()), inputs: inputs, priority: body.priority ?? 0,
            cacheSeconds: cacheSeconds, dispatch: body.dispatch?.rawValue ?? "engine", useCache: body.cache ?? true)
        return cached ? .ok(.init(body: .json(schema))) : .created(.init(body: .json(schema)))
    }

    /// Starts a job of a published pipeline version (or answers the live cached one with the same signature, cached
    /// true) and wakes the engine for it: `createJob`, and the jobs other routes start (`createEmbeddingJob`).
    func start(
        _ versionID: UUID, params paramsText: String, inputs: [JobFile] = [], priority: Int,
        cacheSeconds: Int = 604_800,
        dispatch: String = "engine", useCache: Bool = true
    ) async throws -> (Components.Schemas.Job, cached: Bool) {
        let org = try Tenant.required().orgID
        let version = try await client.withConnection {
            try await PipelineStore(org: org, logger: logger).version(id: versionID, on: $0)
        }
        guard let version else {
            throw TesseraError.unprocessable("no pipeline version \(versionID.uuidString.lowercased()) in this org")
        }
        guard version.publishedAt != nil else {
            throw TesseraError.unprocessable("pipeline version \(version.version) is a draft; publish it first")
        }
        let params = try JSONSerialization.jsonObject(with: Data(paramsText.utf8))
        let signature = try JobSignature(
            pipelineVersion: versionID, params: params,
            inputs: inputs.map {
                .init(name: $0.name, uri: $0.uri, contentType: $0.contentType, sha256: $0.sha256?.hexString)
            })
        let repository = try jobs()
        let (job, cached) = try await repository.create(
            NewJob(
                pipelineVersionID: versionID, params: paramsText, inputs: inputs, priority: priority,
                cacheSeconds: cacheSeconds, signature: signature, dispatch: dispatch, useCache: useCache),
            pipeline: version.pipelineID,
            versionExists: { [client, logger] in
                try await client.withConnection {
                    try await PipelineStore(org: org, logger: logger).version(id: versionID, on: $0) != nil
                }
            },
            createdBy: Self.currentUserID,
            by: auditActor())
        if job.dispatch == "engine", !cached { engine.wake(org) }
        return (try Self.schema(job, cached: cached), cached)
    }

    func listJobs(_ input: Operations.listJobs.Input) async throws -> Operations.listJobs.Output {
        let q = input.query
        let limit = try Self.pageLimit(q.limit)
        let after = try q.cursor.map(Self.timeCursor)
        let records = try await jobs().jobs(
            status: q.status.flatMap { JobStatus(rawValue: $0.rawValue) }, after: after, limit: limit + 1)
        let (page, next) = Self.page(records, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .ok(
            .init(body: .json(.init(items: try page.map { try Self.schema($0, cached: false) }, next_cursor: next))))
    }

    func getJob(_ input: Operations.getJob.Input) async throws -> Operations.getJob.Output {
        guard let job = try await jobs().job(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such job")
        }
        return .ok(.init(body: .json(try Self.schema(job, cached: false))))
    }

    func transitionJob(_ input: Operations.transitionJob.Input) async throws -> Operations.transitionJob.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let repository = try jobs()
        let status = JobStatus(rawValue: body.status.rawValue)!
        let job = try await repository.transition(
            try Self.objectID(input.path.id), to: status, error: body.error,
            by: auditActor())
        if job.dispatch == "engine" { engine.wake(repository.org) }
        return .ok(.init(body: .json(try Self.schema(job, cached: false))))
    }

    func listJobEvents(_ input: Operations.listJobEvents.Input) async throws -> Operations.listJobEvents.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let after = try input.query.cursor.map { try Int64($0).orBadRequest("cursor is not one this server gave") } ?? 0
        guard
            let events = try await jobs().events(
                try Self.objectID(input.path.id), after: after, limit: limit + 1)
        else {
            throw TesseraError.notFound("no such job")
        }
        let (page, next) = Self.page(events, limit: limit) { String($0.seq) }
        return .ok(
            .init(
                body: .json(
                    .init(
                        items: try page.map {
                            .init(
                                seq: $0.seq, kind: $0.kind, data: try Self.jsonValue($0.data), created_at: $0.createdAt)
                        },
                        next_cursor: next))))
    }

    func createExecution(_ input: Operations.createExecution.Input) async throws -> Operations.createExecution.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let key = body.step_key.trimmingCharacters(in: .whitespaces)
        guard (1...63).contains(key.count) else { throw TesseraError.badRequest("step_key is 1–63 characters") }
        let repository = try jobs()
        let definition = try body.task_definition_id.map { try Self.reference($0, "task_definition_id") }
        let execution = try await repository.createExecution(
            try Self.objectID(input.path.id), stepKey: key, taskDefinitionID: definition,
            by: auditActor())
        return .created(.init(body: .json(Self.schema(execution))))
    }

    func listExecutions(_ input: Operations.listExecutions.Input) async throws -> Operations.listExecutions.Output {
        guard let executions = try await jobs().executions(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such job")
        }
        return .ok(.init(body: .json(.init(items: executions.map(Self.schema)))))
    }

    func transitionExecution(_ input: Operations.transitionExecution.Input) async throws
        -> Operations.transitionExecution.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let repository = try jobs()
        let execution = try await repository.transitionExecution(
            try Self.objectID(input.path.id), execution: try Self.objectID(input.path.execution),
            to: JobStatus(rawValue: body.status.rawValue)!, error: body.error,
            by: auditActor())
        return .ok(.init(body: .json(Self.schema(execution))))
    }

    func appendLogs(_ input: Operations.appendLogs.Input) async throws -> Operations.appendLogs.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        guard (1...1000).contains(body.entries.count) else { throw TesseraError.badRequest("send 1–1000 entries") }
        let repository = try jobs()
        let entries = body.entries.map { (level: $0.level?.rawValue ?? "info", message: $0.message) }
        let appended = try await repository.appendLogs(
            try Self.objectID(input.path.id), execution: try Self.objectID(input.path.execution), entries,
            by: auditActor())
        return .ok(.init(body: .json(.init(appended: appended))))
    }

    func listLogs(_ input: Operations.listLogs.Input) async throws -> Operations.listLogs.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let after = try input.query.cursor.map { try Int64($0).orBadRequest("cursor is not one this server gave") } ?? 0
        guard
            let lines = try await jobs().logs(
                try Self.objectID(input.path.id), execution: try Self.objectID(input.path.execution), after: after,
                limit: limit + 1)
        else { throw TesseraError.notFound("no such execution") }
        let (page, next) = Self.page(lines, limit: limit) { String($0.id) }
        return .ok(
            .init(
                body: .json(
                    .init(
                        items: page.map {
                            .init(id: $0.id, logged_at: $0.loggedAt, level: $0.level, message: $0.message)
                        },
                        next_cursor: next))))
    }

    func addTaskResult(_ input: Operations.addTaskResult.Input) async throws -> Operations.addTaskResult.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let repository = try jobs()
        let result = try await repository.addResult(
            try Self.objectID(input.path.id), execution: try Self.objectID(input.path.execution),
            result: try Self.jsonText(body.result),
            by: auditActor())
        return .created(
            .init(
                body: .json(
                    .init(
                        id: Self.id(result.id), result: try Self.jsonValue(result.result), created_at: result.createdAt)
                )))
    }

    func listTaskResults(_ input: Operations.listTaskResults.Input) async throws -> Operations.listTaskResults.Output {
        guard
            let results = try await jobs().results(
                try Self.objectID(input.path.id), execution: try Self.objectID(input.path.execution))
        else { throw TesseraError.notFound("no such execution") }
        return .ok(
            .init(
                body: .json(
                    .init(
                        items: try results.map {
                            .init(id: Self.id($0.id), result: try Self.jsonValue($0.result), created_at: $0.createdAt)
                        }))))
    }

    func addJobOutput(_ input: Operations.addJobOutput.Input) async throws -> Operations.addJobOutput.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let file = try await jobFile(body, org: try Tenant.required().orgID, path: "output")
        let repository = try jobs()
        let job = try await repository.addOutput(
            try Self.objectID(input.path.id), file, quotas: try await orgQuotas(client), by: auditActor())
        return .created(.init(body: .json(try Self.schema(job, cached: false))))
    }

    func addJobComment(_ input: Operations.addJobComment.Input) async throws -> Operations.addJobComment.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let text = body.body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...10_000).contains(text.count) else { throw TesseraError.badRequest("body is 1–10,000 characters") }
        let repository = try jobs()
        let (_, authorID, display) = AuditEvent.actor(RequestScope.principal)
        let comment = try await repository.addComment(
            try Self.objectID(input.path.id), authorID: authorID, authorDisplay: display, body: text,
            by: auditActor())
        return .created(.init(body: .json(Self.schema(comment))))
    }

    func listJobComments(_ input: Operations.listJobComments.Input) async throws -> Operations.listJobComments.Output {
        guard let comments = try await jobs().comments(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such job")
        }
        return .ok(.init(body: .json(.init(items: comments.map(Self.schema)))))
    }

    func listAllJobs(_ input: Operations.listAllJobs.Input) async throws -> Operations.listAllJobs.Output {
        let q = input.query
        let limit = try Self.pageLimit(q.limit)
        let after = try q.cursor.map(Self.timeCursor)
        let rows = try await client.withConnection { [logger] in
            try await JobMirror.list(status: q.status?.rawValue, after: after, limit: limit + 1, on: $0, logger: logger)
        }
        let (page, next) = Self.page(rows, limit: limit) { Self.timeCursor($0.4, $0.1) }
        return .ok(
            .init(
                body: .json(
                    .init(
                        items: page.map { org, job, version, status, created, updated, finished in
                            .init(
                                org_id: Self.id(org), job_id: Self.id(job), pipeline_version_id: version.map(Self.id),
                                status: .init(rawValue: status) ?? .PENDING, created_at: created, updated_at: updated,
                                finished_at: finished
                            )
                        }, next_cursor: next))))
    }

    // MARK: helpers

    /// A job's file: an artifact of the org (its URI, media type, digest and size filled from it; 422 when the org
    /// has no such artifact), or a file elsewhere given by URI and media type.
    func jobFile(_ file: Components.Schemas.JobFile, org: UUID, path: String) async throws -> JobFile {
        guard let raw = file.artifact_id else { return try Self.jobFile(file, path: path) }
        guard file.uri == nil, file.sha256 == nil, file.size_bytes == nil else {
            throw TesseraError.badRequest("\(path): an artifact_id brings its own uri, sha256 and size_bytes")
        }
        let id = try Self.reference(raw, "\(path).artifact_id")
        guard let artifact = try await ArtifactRepository(org: org, databases: tenants, logger: logger).get(id) else {
            throw TesseraError.unprocessable("\(path).artifact_id: the org has no artifact \(Self.id(id))")
        }
        guard !file.name.isEmpty else { throw TesseraError.badRequest("\(path).name is required") }
        return JobFile(
            name: file.name, uri: JobFile.uri(artifact: id), contentType: file.content_type ?? artifact.contentType,
            sha256: artifact.sha256, sizeBytes: Int64(artifact.sizeBytes))
    }

    static func jobFile(_ file: Components.Schemas.JobFile, path: String) throws -> JobFile {
        let digest = try file.sha256.map { hex -> [UInt8] in
            guard hex.count == 64, let bytes = [UInt8](hex: hex) else {
                throw TesseraError.badRequest("\(path).sha256 is 64 hex digits")
            }
            return bytes
        }
        guard !file.name.isEmpty, let uri = file.uri, !uri.isEmpty, let contentType = file.content_type,
            !contentType.isEmpty
        else {
            throw TesseraError.badRequest("\(path): name with artifact_id, or name, uri and content_type, are required")
        }
        if let size = file.size_bytes, size < 0 {
            throw TesseraError.badRequest("\(path).size_bytes must be 0 or more")
        }
        return JobFile(name: file.name, uri: uri, contentType: contentType, sha256: digest, sizeBytes: file.size_bytes)
    }

    static func schema(_ f: JobFile) -> Components.Schemas.JobFile {
        .init(
            name: f.name, artifact_id: JobFile.artifactID(f.uri).map(id), uri: f.uri, content_type: f.contentType,
            sha256: f.sha256?.hexString, size_bytes: f.sizeBytes)
    }

    func listDockingResults(_ input: Operations.listDockingResults.Input) async throws
        -> Operations.listDockingResults.Output
    {
        let q = input.query
        let limit = try Self.pageLimit(q.limit)
        let after = try q.cursor.map(Self.dockingCursor)
        guard
            let poses = try await jobs().dockingResults(
                try Self.objectID(input.path.id), ligand: q.ligand,
                moleculeID: try q.molecule_id.map { try Self.reference($0, "molecule_id") },
                maxAffinity: q.max_affinity, bestOnly: q.best_only ?? false, after: after, limit: limit + 1)
        else { throw TesseraError.notFound("no such job") }
        let (page, next) = Self.page(poses, limit: limit) { Self.dockingCursor($0) }
        return .ok(
            .init(
                body: .json(
                    .init(
                        items: try page.map { p in
                            .init(
                                ligand: p.ligand, pose_rank: p.poseRank, affinity: p.affinity, rmsd: p.rmsd,
                                molecule_id: p.moleculeID.map(Self.id), pose_artifact_id: p.poseArtifactID.map(Self.id),
                                execution_id: p.executionID.map(Self.id), metadata: try Self.jsonValue(p.metadata),
                                created_at: p.createdAt)
                        }, next_cursor: next))))
    }

    /// A pose's place in affinity order: its affinity's bits, its rank and its ligand.
    static func dockingCursor(_ pose: DockingResultRecord) -> String {
        "\(pose.affinity.bitPattern)_\(pose.poseRank)_\(cursorText(pose.ligand))"
    }

    static func dockingCursor(_ raw: String) throws -> (affinity: Double, ligand: String, rank: Int) {
        let parts = raw.split(separator: "_", maxSplits: 2)
        guard parts.count == 3, let bits = UInt64(parts[0]), let rank = Int(parts[1]),
            let ligand = cursorText(decoding: parts[2])
        else { throw TesseraError.badRequest("cursor is not one this server gave") }
        return (Double(bitPattern: bits), ligand, rank)
    }

    /// A task service's report for an execution that it accepted with 202: `{org}.{execution}.{secret}`.
    func reportTaskResult(_ input: Operations.reportTaskResult.Input) async throws
        -> Operations.reportTaskResult.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let unknown = TesseraError.notFound("no execution waits for this report")
        guard let (org, execution, secret) = ExecutionToken.parse(input.path.token) else { throw unknown }
        let store = JobEngineStore(org: org, databases: tenants, logger: logger)
        guard try await orgs.status(of: org) == .ready,
            let target = try await store.callbackTarget(execution, secret: secret),
            let version = target.version, let definitionID = target.definition
        else { throw unknown }
        let knowledge = try await catalog.knowledge(org: org, versions: [version], logger: logger)
        guard let steps = knowledge.versions[version], let definition = catalog.definition(definitionID, org: org)
        else {
            throw unknown
        }
        let outcome: EngineOutcome
        switch body.status {
        case .completed:
            let text = try body.result.map { try Self.jsonText($0) } ?? "{}"
            guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed),
                let (operation, document) = definition.operation(definition.config.operation)
            else { throw TesseraError.unprocessable("result: not a value the interface_spec describes") }
            let problems = operation.responseProblems(value, status: 200, document: document)
            guard problems.isEmpty else {
                throw TesseraError.unprocessable(
                    "result does not match the interface_spec: \(problems.prefix(3).joined(separator: "; "))")
            }
            outcome = .completed(text)
        case .failed:
            outcome = .failed(String((body.error ?? "the service reported a failure").prefix(2000)), retryable: true)
        }
        let actor = AuditActor(kind: .system, display: "task service callback")
        guard
            try await store.callback(
                execution, secret: secret, outcome, steps: steps, config: definition.config, by: actor)
        else { throw unknown }
        engine.wake(org)
        return .noContent(.init())
    }

    static func schema(_ j: JobRecord, cached: Bool) throws -> Components.Schemas.Job {
        .init(
            id: id(j.id), pipeline_version_id: j.pipelineVersionID.map(id), status: .init(rawValue: j.status.rawValue)!,
            params: try jsonValue(j.params), input_signature: j.inputSignature.hexString, priority: j.priority,
            cache_seconds: j.cacheSeconds,
            error: j.error, created_at: j.createdAt, started_at: j.startedAt, finished_at: j.finishedAt,
            inputs: j.inputs.map(schema),
            outputs: j.outputs.map(schema), cached: cached, dispatch: .init(rawValue: j.dispatch) ?? .manual,
            cache: j.useCache)
    }

    static func schema(_ e: TaskExecutionRecord) -> Components.Schemas.Execution {
        .init(
            id: id(e.id), step_key: e.stepKey, task_definition_id: e.taskDefinitionID.map(id),
            status: .init(rawValue: e.status.rawValue)!,
            attempt: e.attempt, error: e.error, started_at: e.startedAt, finished_at: e.finishedAt)
    }

    static func schema(_ c: JobComment) -> Components.Schemas.Comment {
        .init(
            id: id(c.id), author_id: c.authorID.map(id), author_display: c.authorDisplay, body: c.body,
            created_at: c.createdAt)
    }
}
