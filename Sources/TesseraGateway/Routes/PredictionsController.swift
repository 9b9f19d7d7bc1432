import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/orgs/{org}/models`, `/prompts`, `/runs`: prediction runs, in the org's own database.
struct PredictionsController: TenantController {
    let client: PostgresClient
    let tenants: TenantDatabases
    let baseLogger: Logger

    func createModel(_ input: Operations.createModel.Input) async throws -> Operations.createModel.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        let source = body.source.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.count), (1...100).contains(source.count) else {
            throw TesseraError.unprocessable("name (1–200) and source (1–100 characters) are required")
        }
        let repository = try predictions()
        let event = audit(
            .modelCreate, org: repository.org, entityType: "model", metadata: ["name": name, "source": source])
        guard
            let model = try await repository.createModel(
                name: name, source: source, library: body.library, description: body.description, audit: event)
        else { throw TesseraError.conflict("the org has a model '\(name)' from '\(source)'") }
        return .created(.init(body: .json(Self.schema(model))))
    }

    func listModels(_ input: Operations.listModels.Input) async throws -> Operations.listModels.Output {
        .ok(.init(body: .json(.init(items: try await predictions().models().map(Self.schema)))))
    }

    func getModel(_ input: Operations.getModel.Input) async throws -> Operations.getModel.Output {
        guard let model = try await predictions().model(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such model")
        }
        return .ok(.init(body: .json(Self.schema(model))))
    }

    func deleteModel(_ input: Operations.deleteModel.Input) async throws -> Operations.deleteModel.Output {
        try await Self.delete(.model, try Self.objectID(input.path.id), in: try predictions(), by: auditActor())
        return .noContent(.init())
    }

    func getPrompt(_ input: Operations.getPrompt.Input) async throws -> Operations.getPrompt.Output {
        guard let prompt = try await predictions().prompt(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such prompt")
        }
        return .ok(.init(body: .json(try Self.schema(prompt))))
    }

    func deletePrompt(_ input: Operations.deletePrompt.Input) async throws -> Operations.deletePrompt.Output {
        try await Self.delete(.prompt, try Self.objectID(input.path.id), in: try predictions(), by: auditActor())
        return .noContent(.init())
    }

    func createPrompt(_ input: Operations.createPrompt.Input) async throws -> Operations.createPrompt.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let template: PromptTemplate
        do {
            template = try PromptTemplate(body.template)
        } catch let problem as PromptTemplate.Problem {
            throw TesseraError.unprocessable("template: \(problem)")
        }
        let repository = try predictions()
        let event = audit(.promptCreate, org: repository.org, entityType: "prompt", metadata: ["name": body.name])
        guard let prompt = try await repository.createPrompt(name: body.name, template: template.text, audit: event)
        else {
            throw TesseraError.conflict("the org has a prompt named '\(body.name)'")
        }
        return .created(.init(body: .json(try Self.schema(prompt))))
    }

    func listPrompts(_ input: Operations.listPrompts.Input) async throws -> Operations.listPrompts.Output {
        .ok(.init(body: .json(.init(items: try await predictions().prompts().map(Self.schema)))))
    }

    func createRun(_ input: Operations.createRun.Input) async throws -> Operations.createRun.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let repository = try predictions()
        let (modelID, promptID, datasetID) = (
            try Self.reference(body.model_id, "model_id"), try Self.reference(body.prompt_id, "prompt_id"),
            try Self.reference(body.dataset_id, "dataset_id")
        )
        guard try await repository.modelExists(modelID) else {
            throw TesseraError.unprocessable("no model \(body.model_id)")
        }
        guard let prompt = try await repository.prompt(promptID) else {
            throw TesseraError.unprocessable("no prompt \(body.prompt_id)")
        }
        guard let dataset = try await datasets().get(datasetID) else {
            throw TesseraError.unprocessable("no dataset \(body.dataset_id)")
        }
        let missing = try PromptTemplate(prompt.template).missing(from: dataset.fields)
        guard missing.isEmpty else {
            throw TesseraError.unprocessable(
                "the prompt's placeholders \(missing.joined(separator: ", ")) name no field of the dataset (fields: \(dataset.fields.joined(separator: ", ")))"
            )
        }
        let event = audit(
            .runCreate, org: repository.org, entityType: "run",
            metadata: ["model_id": Self.id(modelID), "prompt_id": Self.id(promptID), "dataset_id": Self.id(datasetID)])
        guard
            let run = try await repository.createRun(
                model: modelID, prompt: promptID, dataset: datasetID,
                createdBy: Self.currentUserID, quotas: try await orgQuotas(client), audit: event)
        else { throw TesseraError.internalError }
        return .created(.init(body: .json(Self.schema(run))))
    }

    func listRuns(_ input: Operations.listRuns.Input) async throws -> Operations.listRuns.Output {
        let q = input.query
        let limit = try Self.pageLimit(q.limit)
        let filter = RunFilter(
            dataset: try q.dataset_id.map { try Self.reference($0, "dataset_id") },
            model: try q.model_id.map { try Self.reference($0, "model_id") },
            prompt: try q.prompt_id.map { try Self.reference($0, "prompt_id") }, status: q.status?.rawValue)
        let runs = try await predictions().runs(
            filter, after: try q.cursor.map { try Self.timeCursor($0) }, limit: limit + 1)
        let (page, next) = Self.page(runs, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func getRun(_ input: Operations.getRun.Input) async throws -> Operations.getRun.Output {
        guard let run = try await predictions().run(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such run")
        }
        return .ok(.init(body: .json(Self.schema(run))))
    }

    func deleteRun(_ input: Operations.deleteRun.Input) async throws -> Operations.deleteRun.Output {
        switch try await predictions().deleteRun(try Self.objectID(input.path.id), by: auditActor()) {
        case .deleted: return .noContent(.init())
        case .notFound: throw TesseraError.notFound("no such run")
        case .active(let status): throw TesseraError.conflict("the run is \(status); cancel it first")
        case .evaluated(let count):
            throw TesseraError.conflict(
                "the run has \(count) evaluation\(count == 1 ? "" : "s"), which are kept as computed")
        }
    }

    func cancelRun(_ input: Operations.cancelRun.Input) async throws -> Operations.cancelRun.Output {
        let repository = try predictions()
        let id = try Self.objectID(input.path.id)
        switch try await repository.cancelRun(id, by: auditActor()) {
        case .cancelled(let run):
            return .ok(.init(body: .json(Self.schema(run))))
        case .notFound: throw TesseraError.notFound("no such run")
        case .finished(let status):
            throw TesseraError.conflict("the run is \(status); only a pending or running run can be cancelled")
        }
    }

    static func schema(_ m: ModelRecord) -> Components.Schemas.Model {
        .init(
            id: id(m.id), name: m.name, source: m.source, library: m.library, description: m.description,
            created_at: m.createdAt)
    }

    static func schema(_ p: PromptRecord) throws -> Components.Schemas.Prompt {
        .init(
            id: id(p.id), name: p.name, template: p.template, placeholders: try PromptTemplate(p.template).placeholders,
            created_at: p.createdAt)
    }

    static func schema(_ r: RunRecord) -> Components.Schemas.Run {
        .init(
            id: id(r.id), model_id: id(r.modelID), prompt_id: id(r.promptID), dataset_id: id(r.datasetID),
            status: .init(rawValue: r.status) ?? .pending, total: r.total, pending: r.pending,
            in_progress: r.inProgress,
            done: r.done, failed: r.failed, created_at: r.createdAt, finished_at: r.finishedAt)
    }
}

/// The work queue: claim, heartbeat, submit.
extension PredictionsController {
    static let maxResultsPerBatch = 10_000

    func listPredictions(_ input: Operations.listPredictions.Input) async throws -> Operations.listPredictions.Output {
        let q = input.query
        let filter = try Self.predictionFilter(status: q.status?.rawValue, row: q.row_id, correct: q.correct)
        let limit = try Self.pageLimit(q.limit)
        let after = try Self.cursor(q.cursor)
        guard
            let records = try await predictions().predictions(
                run: try Self.objectID(input.path.id), filter: filter, after: after, limit: limit + 1)
        else { throw TesseraError.notFound("no such run") }
        let (page, next) = Self.page(records, limit: limit) { Self.id($0.rowID) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func exportPredictions(_ input: Operations.exportPredictions.Input) async throws
        -> Operations.exportPredictions.Output
    {
        let q = input.query
        let filter = try Self.predictionFilter(status: q.status?.rawValue, row: q.row_id, correct: q.correct)
        let repository = try predictions()
        let run = try Self.objectID(input.path.id)
        guard try await repository.run(run) != nil else { throw TesseraError.notFound("no such run") }
        let csv = q.format == .csv
        let lines = PagedExport<UUID>(
            records: { after, limit in
                try await repository.predictions(run: run, filter: filter, after: after, limit: limit) ?? []
            },
            cursor: \.rowID,
            header: csv
                ? Array(
                    "id,row_id,position,status,output,expected_prediction,correct,latency_seconds,error,created_at\n"
                        .utf8) : nil,
            line: { record in
                guard csv else { return try ExportLines.ndjson(Self.schema(record)) }
                return ExportLines.csv([
                    Self.id(record.id), Self.id(record.rowID), String(record.position),
                    record.succeeded ? "succeeded" : "failed",
                    record.output, record.expected, record.correct.map { String($0) },
                    record.latencySeconds.map { String($0) },
                    record.error, record.createdAt.formatted(.iso8601),
                ])
            })
        let body = HTTPBody(lines, length: .unknown, iterationBehavior: .single)
        return .ok(.init(body: csv ? .csv(body) : .application_x_hyphen_ndjson(body)))
    }

    static func predictionFilter(status: String?, row: String?, correct: Bool?) throws -> PredictionFilter {
        PredictionFilter(
            succeeded: status.map { $0 == "succeeded" }, row: try row.map { try reference($0, "row_id") },
            correct: correct)
    }

    static func schema(_ p: PredictionRecord) -> Components.Schemas.Prediction {
        .init(
            id: id(p.id), row_id: id(p.rowID), position: p.position, status: p.succeeded ? .succeeded : .failed,
            output: p.output,
            expected_prediction: p.expected, correct: p.correct, latency_seconds: p.latencySeconds, error: p.error,
            created_at: p.createdAt)
    }

    func claimWork(_ input: Operations.claimWork.Input) async throws -> Operations.claimWork.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let limit = body.limit ?? 10
        let seconds = body.lease_seconds ?? 300
        guard (1...Self.maxResultsPerBatch).contains(limit), (5...3600).contains(seconds) else {
            throw TesseraError.badRequest("limit is 1–\(Self.maxResultsPerBatch) and lease_seconds 5–3600")
        }
        let repository = try predictions()
        let run = try Self.objectID(input.path.id)
        let claim = try await repository.claim(
            run: run, limit: limit, leaseSeconds: seconds,
            by: auditActor())
        return .ok(
            .init(
                body: .json(
                    .init(
                        lease_id: Self.id(claim.lease), expires_at: claim.expires,
                        items: claim.items.map {
                            .init(work_item_id: Self.id($0.workItemID), row_id: Self.id($0.rowID), prompt: $0.prompt)
                        }
                    ))))
    }

    func heartbeatWork(_ input: Operations.heartbeatWork.Input) async throws -> Operations.heartbeatWork.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let seconds = body.lease_seconds ?? 300
        guard (5...3600).contains(seconds) else { throw TesseraError.badRequest("lease_seconds is 5–3600") }
        let repository = try predictions()
        let extended = try await repository.heartbeat(
            run: try Self.objectID(input.path.id), lease: try Self.reference(body.lease_id, "lease_id"),
            leaseSeconds: seconds,
            by: auditActor())
        return .ok(.init(body: .json(.init(extended: extended))))
    }

    func submitPredictions(_ input: Operations.submitPredictions.Input) async throws
        -> Operations.submitPredictions.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        guard (1...Self.maxResultsPerBatch).contains(body.results.count) else {
            throw TesseraError.badRequest("send 1–\(Self.maxResultsPerBatch) results")
        }
        let results = try body.results.map { result in
            SubmittedResult(
                workItemID: try Self.reference(result.work_item_id, "work_item_id"), output: result.output,
                latencySeconds: result.latency_seconds, succeeded: result.status == .succeeded, error: result.error)
        }
        var seen = Set<UUID>()
        for result in results where !seen.insert(result.workItemID).inserted {
            throw TesseraError.badRequest("work item \(Self.id(result.workItemID)) appears twice in the batch")
        }
        let repository = try predictions()
        let recorded = try await repository.submit(
            run: try Self.objectID(input.path.id), lease: try Self.reference(body.lease_id, "lease_id"),
            results: results,
            by: auditActor())
        return .ok(.init(body: .json(.init(recorded: recorded))))
    }
}
