import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/orgs/{org}/pipeline-templates` and `/pipelines`: DAGs of task definitions, checked on every write;
/// published versions never change.
struct PipelinesController: MetadataController {
    let client: PostgresClient
    /// The org databases, where the jobs of a pipeline are.
    let tenants: TenantDatabases
    let skipAuditForBenchmark: Bool
    let baseLogger: Logger

    func pipelineStore() throws -> PipelineStore { PipelineStore(org: try Tenant.required().orgID, logger: logger) }

    /// The steps resolved, or 422 with every problem and its path.
    func checkedSteps(
        _ specs: [Components.Schemas.PipelineStepSpec], store: PipelineStore, on connection: PostgresConnection
    ) async throws
        -> [ResolvedStep]
    {
        let steps = specs.map {
            PipelineStep(
                key: $0.key, task: $0.task, version: $0.version, dependsOn: $0.depends_on ?? [], cache: $0.cache ?? true
            )
        }
        switch try await store.check(steps, on: connection) {
        case .success(let resolved): return resolved
        case .failure(let problems): throw TesseraError.invalid(problems.list)
        }
    }

    func createPipelineTemplate(_ input: Operations.createPipelineTemplate.Input) async throws
        -> Operations.createPipelineTemplate.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        guard (1...200).contains(body.name.count) else { throw TesseraError.unprocessable("name is 1–200 characters") }
        let store = try pipelineStore()
        let principal = RequestScope.principal
        let template = try await change { connection, trail -> PipelineTemplateRecord? in
            let steps = try await checkedSteps(body.steps, store: store, on: connection)
            guard
                let template = try await store.createTemplate(
                    name: body.name, description: body.description, steps: steps,
                    createdBy: principal.flatMap(Self.userID(of:)),
                    on: connection)
            else { return nil }
            try await trail.append(
                audit(
                    .pipelineTemplateCreate, org: store.org, entityType: "pipeline_template", entityID: template.id,
                    metadata: ["name": body.name, "steps": String(steps.count)]))
            return template
        }
        guard let template else { throw TesseraError.conflict("the org has a pipeline template named '\(body.name)'") }
        return .created(.init(body: .json(Self.schema(template))))
    }

    func listPipelineTemplates(_ input: Operations.listPipelineTemplates.Input) async throws
        -> Operations.listPipelineTemplates.Output
    {
        let store = try pipelineStore()
        return .ok(
            .init(
                body: .json(
                    .init(items: try await client.withConnection { try await store.templates(on: $0) }.map(Self.schema))
                )))
    }

    func getPipelineTemplate(_ input: Operations.getPipelineTemplate.Input) async throws
        -> Operations.getPipelineTemplate.Output
    {
        let store = try pipelineStore()
        let id = try Self.objectID(input.path.id)
        guard let template = try await client.withConnection({ try await store.template(id, on: $0) }) else {
            throw TesseraError.notFound("no such pipeline template")
        }
        return .ok(.init(body: .json(Self.schema(template))))
    }

    func createPipeline(_ input: Operations.createPipeline.Input) async throws -> Operations.createPipeline.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        guard (1...200).contains(body.name.count) else { throw TesseraError.unprocessable("name is 1–200 characters") }
        let store = try pipelineStore()
        let templateID = try body.template_id.map { try Self.reference($0, "template_id") }
        let userID = Self.currentUserID
        let created = try await change {
            connection, trail -> (PipelineRecord, [PipelineVersionRecord])? in
            var steps: [ResolvedStep]?
            if let templateID {
                guard let template = try await store.template(templateID, on: connection) else {
                    throw TesseraError.unprocessable("no pipeline template \(Self.id(templateID))")
                }
                steps = template.steps
            }
            guard
                let pipeline = try await store.createPipeline(
                    name: body.name, description: body.description, templateID: templateID, createdBy: userID,
                    on: connection)
            else { return nil }
            try await trail.append(
                audit(
                    .pipelineCreate, org: store.org, entityType: "pipeline", entityID: pipeline.id,
                    metadata: ["name": body.name]))
            var versions: [PipelineVersionRecord] = []
            if let steps {
                let version = try await store.createVersion(
                    pipeline: pipeline.id, steps: steps, createdBy: userID, on: connection)
                try await trail.append(
                    audit(
                        .pipelineVersionCreate, org: store.org, entityType: "pipeline_version", entityID: version.id,
                        metadata: ["pipeline_id": Self.id(pipeline.id), "version": String(version.version)]))
                versions.append(version)
            }
            return (pipeline, versions)
        }
        guard let (pipeline, versions) = created else {
            throw TesseraError.conflict("the org has a pipeline named '\(body.name)'")
        }
        return .created(.init(body: .json(Self.schema(pipeline, versions: versions))))
    }

    func listPipelines(_ input: Operations.listPipelines.Input) async throws -> Operations.listPipelines.Output {
        let store = try pipelineStore()
        let items = try await client.withConnection { connection in
            var out: [Components.Schemas.Pipeline] = []
            for pipeline in try await store.pipelines(on: connection) {
                out.append(
                    Self.schema(pipeline, versions: try await store.versions(pipeline: pipeline.id, on: connection)))
            }
            return out
        }
        return .ok(.init(body: .json(.init(items: items))))
    }

    func getPipeline(_ input: Operations.getPipeline.Input) async throws -> Operations.getPipeline.Output {
        let store = try pipelineStore()
        let id = try Self.objectID(input.path.id)
        let found = try await client.withConnection { connection -> Components.Schemas.Pipeline? in
            guard let pipeline = try await store.pipeline(id, on: connection) else { return nil }
            return Self.schema(pipeline, versions: try await store.versions(pipeline: id, on: connection))
        }
        guard let found else { throw TesseraError.notFound("no such pipeline") }
        return .ok(.init(body: .json(found)))
    }

    /// Deletes the pipeline with its versions unless a job of one of them exists (409 naming how many). The org
    /// database's lock on the pipeline is held across the metadata change, so no job of it is created meanwhile.
    func deletePipeline(_ input: Operations.deletePipeline.Input) async throws -> Operations.deletePipeline.Output {
        let store = try pipelineStore()
        let id = try Self.objectID(input.path.id)
        enum Outcome {
            case deleted, notFound
            case usedByJobs(Int)
        }
        let jobs = JobRepository(org: store.org, databases: tenants, logger: logger)
        let outcome = try await jobs.holdingPipeline(id) { jobsOf in
            try await change { connection, trail -> Outcome in
                guard let (name, versions) = try await store.lockedVersions(of: id, on: connection) else {
                    return .notFound
                }
                let used = try await jobsOf(versions)
                guard used == 0 else { return .usedByJobs(used) }
                try await store.deletePipeline(id, on: connection)
                try await trail.append(
                    audit(
                        .pipelineDelete, org: store.org, entityType: "pipeline", entityID: id,
                        metadata: ["name": name, "versions": String(versions.count)]))
                return .deleted
            }
        }
        switch outcome {
        case .deleted: return .noContent(.init())
        case .notFound: throw TesseraError.notFound("no such pipeline")
        case .usedByJobs(let count):
            throw TesseraError.conflict("the pipeline is used by \(count) job\(count == 1 ? "" : "s")")
        }
    }

    func createPipelineVersion(_ input: Operations.createPipelineVersion.Input) async throws
        -> Operations.createPipelineVersion.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let store = try pipelineStore()
        let id = try Self.objectID(input.path.id)
        let userID = Self.currentUserID
        let version = try await change { connection, trail -> PipelineVersionRecord in
            guard try await store.pipeline(id, on: connection) != nil else {
                throw TesseraError.notFound("no such pipeline")
            }
            let steps = try await checkedSteps(body.steps, store: store, on: connection)
            let version = try await store.createVersion(pipeline: id, steps: steps, createdBy: userID, on: connection)
            try await trail.append(
                audit(
                    .pipelineVersionCreate, org: store.org, entityType: "pipeline_version", entityID: version.id,
                    metadata: ["pipeline_id": Self.id(id), "version": String(version.version)]))
            return version
        }
        return .created(.init(body: .json(Self.schema(version))))
    }

    func getPipelineVersion(_ input: Operations.getPipelineVersion.Input) async throws
        -> Operations.getPipelineVersion.Output
    {
        let store = try pipelineStore()
        let id = try Self.objectID(input.path.id)
        guard
            let version = try await client.withConnection({
                try await store.version(pipeline: id, version: input.path.version, on: $0)
            })
        else {
            throw TesseraError.notFound("no such pipeline version")
        }
        return .ok(.init(body: .json(Self.schema(version))))
    }

    func updatePipelineVersion(_ input: Operations.updatePipelineVersion.Input) async throws
        -> Operations.updatePipelineVersion.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let store = try pipelineStore()
        let id = try Self.objectID(input.path.id)
        let number = input.path.version
        let version = try await change { connection, trail -> PipelineVersionRecord in
            let steps = try await checkedSteps(body.steps, store: store, on: connection)
            let version = try Self.changed(
                try await store.updateVersion(pipeline: id, version: number, steps: steps, on: connection))
            try await trail.append(
                audit(
                    .pipelineVersionUpdate, org: store.org, entityType: "pipeline_version", entityID: version.id,
                    metadata: ["pipeline_id": Self.id(id), "version": String(number)]))
            return version
        }
        return .ok(.init(body: .json(Self.schema(version))))
    }

    func publishPipelineVersion(_ input: Operations.publishPipelineVersion.Input) async throws
        -> Operations.publishPipelineVersion.Output
    {
        let store = try pipelineStore()
        let id = try Self.objectID(input.path.id)
        let number = input.path.version
        let version = try await change { connection, trail -> PipelineVersionRecord in
            let version = try Self.changed(try await store.publish(pipeline: id, version: number, on: connection))
            try await trail.append(
                audit(
                    .pipelineVersionPublish, org: store.org, entityType: "pipeline_version", entityID: version.id,
                    metadata: [
                        "pipeline_id": Self.id(id), "version": String(number), "checksum": version.checksum.hexString,
                    ]))
            return version
        }
        return .ok(.init(body: .json(Self.schema(version))))
    }

    static func changed(_ change: PipelineStore.VersionChange) throws -> PipelineVersionRecord {
        switch change {
        case .changed(let version): return version
        case .notFound: throw TesseraError.notFound("no such pipeline version")
        case .published(let version):
            throw TesseraError.conflict(
                "version \(version.version) is published and never changes; create a new version")
        }
    }

    static func schema(_ s: ResolvedStep) -> Components.Schemas.PipelineStepSpec {
        .init(
            key: s.step.key, task: s.step.task, version: s.step.version, depends_on: s.step.dependsOn,
            task_definition_id: id(s.definitionID), cache: s.step.cache)
    }

    static func schema(_ t: PipelineTemplateRecord) -> Components.Schemas.PipelineTemplate {
        .init(
            id: id(t.id), name: t.name, description: t.description, steps: t.steps.map(schema), created_at: t.createdAt)
    }

    static func schema(_ p: PipelineRecord, versions: [PipelineVersionRecord]) -> Components.Schemas.Pipeline {
        .init(
            id: id(p.id), name: p.name, description: p.description, template_id: p.templateID.map(id),
            created_at: p.createdAt,
            versions: versions.map(schema))
    }

    static func schema(_ v: PipelineVersionRecord) -> Components.Schemas.PipelineVersion {
        .init(
            id: id(v.id), pipeline_id: id(v.pipelineID), version: v.version, steps: v.steps.map(schema),
            checksum: v.checksum.hexString,
            published: v.publishedAt != nil, published_at: v.publishedAt, created_at: v.createdAt)
    }
}
