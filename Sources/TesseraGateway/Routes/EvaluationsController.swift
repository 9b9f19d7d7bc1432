import Foundation
import Logging
import OpenAPIRuntime
import TesseraCore
import TesseraEvaluation
import TesseraPostgres

/// `/v1/orgs/{org}/runs/{id}/evaluations`, `/evaluations/{id}`, `/datasets/{id}/leaderboard`: run metrics.
struct EvaluationsController: HeavyController {
    let tenants: TenantDatabases
    let heavy: HeavyWork
    let baseLogger: Logger

    func createRunEvaluation(_ input: Operations.createRunEvaluation.Input) async throws
        -> Operations.createRunEvaluation.Output
    {
        var options = LabelNormalization()
        if case .json(let body)? = input.body {
            options = LabelNormalization(
                trim: body.trim ?? true, caseFold: body.case_fold ?? false,
                stripPunctuation: body.strip_punctuation ?? false,
                extract: body.extract, labelMap: body.label_map?.additionalProperties ?? [:],
                excludeFailed: body.exclude_failed ?? false)
        }
        let normalizer: LabelNormalizer
        do {
            normalizer = try LabelNormalizer(options)
        } catch let problem as LabelNormalizer.InvalidPattern {
            throw TesseraError.unprocessable(problem.description)
        }
        let repository = try predictions()
        let run = try Self.objectID(input.path.id)
        let evaluated: RunEvaluationRecord?
        do {
            evaluated = try await heavily { compute in
                let tally = RunTally(normalizer)
                return try await repository.evaluate(
                    run: run, options: options, createdBy: Self.currentUserID,
                    audit: audit(
                        .evaluationCreate, org: repository.org, entityType: "run_evaluation",
                        metadata: ["run_id": Self.id(run)]),
                    batch: { rows in try await compute { tally.add(rows) } },
                    metrics: { try await compute { try tally.metrics() } })
            }
        } catch let problem as ClassificationMetrics.TooManyLabels {
            throw TesseraError.unprocessable(problem.description)
        }
        guard let record = evaluated else { throw TesseraError.notFound("no such run") }
        return .created(.init(body: .json(Self.schema(record))))
    }

    func listRunEvaluations(_ input: Operations.listRunEvaluations.Input) async throws
        -> Operations.listRunEvaluations.Output
    {
        let limit = try Self.pageLimit(input.query.limit)
        let after = try input.query.cursor.map(Self.timeCursor)
        guard
            let records = try await predictions().evaluations(
                run: try Self.objectID(input.path.id), after: after, limit: limit + 1)
        else { throw TesseraError.notFound("no such run") }
        let (page, next) = Self.page(records, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func getRunEvaluation(_ input: Operations.getRunEvaluation.Input) async throws -> Operations.getRunEvaluation.Output
    {
        guard let record = try await predictions().evaluation(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such evaluation")
        }
        return .ok(.init(body: .json(Self.schema(record))))
    }

    func getLeaderboard(_ input: Operations.getLeaderboard.Input) async throws -> Operations.getLeaderboard.Output {
        let metric = LeaderboardMetric(rawValue: input.query.metric?.rawValue ?? "accuracy") ?? .accuracy
        let dataset = try Self.objectID(input.path.id)
        guard
            let entries = try await predictions().leaderboard(
                dataset: dataset, metric: metric, limit: try Self.pageLimit(input.query.limit))
        else { throw TesseraError.notFound("no such dataset") }
        var items: [Components.Schemas.Leaderboard.itemsPayloadPayload] = []
        for (position, entry) in entries.enumerated() {
            // Equal values share a rank (1, 2, 2, 4).
            let rank =
                position > 0 && entries[position - 1].value == entry.value ? items[position - 1].rank : position + 1
            items.append(
                .init(
                    rank: rank, evaluation_id: Self.id(entry.evaluationID), run_id: Self.id(entry.runID),
                    model: .init(id: Self.id(entry.modelID), name: entry.modelName),
                    prompt: .init(id: Self.id(entry.promptID), name: entry.promptName),
                    value: entry.value, coverage: entry.coverage, latency_p50: entry.latencyP50,
                    latency_mean: entry.latencyMean,
                    evaluated_at: entry.evaluatedAt))
        }
        return .ok(.init(body: .json(.init(dataset_id: Self.id(dataset), metric: metric.rawValue, items: items))))
    }

    static func schema(_ r: RunEvaluationRecord) -> Components.Schemas.RunEvaluation {
        let (m, c, o) = (r.metrics, r.metrics.classification, r.options)
        return .init(
            id: id(r.id), run_id: id(r.runID), dataset_id: id(r.datasetID), run_status: r.runStatus,
            options: .init(
                extract: o.extract, strip_punctuation: o.stripPunctuation, trim: o.trim, case_fold: o.caseFold,
                label_map: .init(additionalProperties: o.labelMap), exclude_failed: o.excludeFailed),
            rows: m.rows, succeeded: m.succeeded, failed: m.failed, missing: m.missing, unparsed: m.unparsed,
            coverage: m.coverage,
            failure_rate: m.failureRate, samples: c.samples, accuracy: c.accuracy,
            labels: c.labels.map {
                .init(label: $0.label, precision: $0.precision, recall: $0.recall, f1: $0.f1, support: $0.support)
            },
            macro: schema(c.macro), micro: schema(c.micro), weighted: schema(c.weighted),
            confusion_matrix: .init(labels: c.labels.map(\.label), matrix: c.confusionMatrix, unanswered: c.unanswered),
            latency: .init(
                count: m.latency.count, mean: m.latency.mean, p50: m.latency.p50, p95: m.latency.p95, p99: m.latency.p99
            ),
            created_by: r.createdBy.map(id), created_at: r.createdAt)
    }

    static func schema(_ a: AveragedScores) -> Components.Schemas.AveragedScores {
        .init(precision: a.precision, recall: a.recall, f1: a.f1)
    }
}
