import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraEvaluation

/// A stored run evaluation: the options it was computed with and what it found.
public struct RunEvaluationRecord: Sendable, Equatable {
    public let id: UUID
    public let runID: UUID
    public let datasetID: UUID
    public let runStatus: String
    public let options: LabelNormalization
    public let metrics: RunMetrics
    public let createdBy: UUID?
    public let createdAt: Date
}

/// What a dataset's leaderboard ranks by; latency and failure rate rank lowest first.
public enum LeaderboardMetric: String, Sendable, CaseIterable {
    case accuracy
    case macroF1 = "macro_f1"
    case microF1 = "micro_f1"
    case weightedF1 = "weighted_f1"
    case coverage
    case failureRate = "failure_rate"
    case latencyP50 = "latency_p50"
    case latencyMean = "latency_mean"

    public var lowerIsBetter: Bool { [.failureRate, .latencyP50, .latencyMean].contains(self) }
}

/// One run on a dataset's leaderboard: its latest evaluation.
public struct LeaderboardEntry: Sendable, Equatable {
    public let evaluationID: UUID
    public let runID: UUID
    public let modelID: UUID
    public let modelName: String
    public let promptID: UUID
    public let promptName: String
    public let value: Double?
    public let coverage: Double
    public let latencyP50: Double?
    public let latencyMean: Double?
    public let evaluatedAt: Date
}

/// Run evaluations: a run's predictions scored against its dataset's expectations, stored once.
extension PredictionRepository {
    static let evaluationColumns =
        "id, run_id, dataset_id, run_status::text, options::text, metrics::text, created_by, created_at"

    /// Scores the run's predictions against its dataset's expected predictions (rows without one are left out)
    /// and stores the result with its `options` and audit event; nil when there is no such run. The rows are read
    /// in dataset order and handed to `batch` `batchSize` at a time as they arrive (never all at once: outputs can
    /// be long); `metrics` then gives what they came to. The caller decides where that computing runs.
    public func evaluate(
        run: UUID, options: LabelNormalization, createdBy: UUID?, audit: AuditEvent, batchSize: Int = 1000,
        batch: @escaping @Sendable ([EvaluatedRow]) async throws -> Void,
        metrics: @escaping @Sendable () async throws -> RunMetrics
    ) async throws -> RunEvaluationRecord? {
        try await databases.audited(org: org, audit, logger: logger) { [logger] tx in
            let runs = try await tx.sql(
                "SELECT dataset_id, status::text FROM prediction_runs WHERE id = \(run)", logger: logger
            ).collect()
            guard let runRow = runs.first else { return nil }
            let (dataset, status) = try runRow.decode((UUID, String).self)
            let stream = try await tx.sql(
                """
                SELECT r.expected_prediction, p.outcome = 'succeeded', p.output, p.latency_seconds
                FROM rows r LEFT JOIN predictions p ON p.row_id = r.id AND p.run_id = \(run)
                WHERE r.dataset_id = \(dataset) AND r.expected_prediction IS NOT NULL
                ORDER BY r.position
                """, logger: logger)
            var rows: [EvaluatedRow] = []
            rows.reserveCapacity(batchSize)
            for try await (expected, succeeded, output, latency) in stream.decode(
                (String, Bool?, String?, Double?).self)
            {
                rows.append(
                    EvaluatedRow(expected: expected, succeeded: succeeded, output: output, latencySeconds: latency))
                if rows.count == batchSize {
                    try await batch(rows)
                    rows.removeAll(keepingCapacity: true)
                }
            }
            if !rows.isEmpty { try await batch(rows) }
            let metrics = try await metrics()
            let options = try JSONText.encode(options)
            let metricsText = try JSONText.encode(metrics)
            let c = metrics.classification
            let inserted = try await tx.sql(
                """
                INSERT INTO run_evaluations (run_id, dataset_id, run_status, options, metrics, accuracy, macro_f1, micro_f1, weighted_f1,
                                             coverage, failure_rate, latency_p50, latency_mean, created_by)
                VALUES (\(run), \(dataset), \(status)::run_status, \(options)::jsonb, \(metricsText)::jsonb, \(c.accuracy), \(c.macro.f1),
                        \(c.micro.f1), \(c.weighted.f1), \(metrics.coverage), \(metrics.failureRate), \(metrics.latency.p50),
                        \(metrics.latency.mean), \(createdBy))
                RETURNING \(unescaped: Self.evaluationColumns)
                """, logger: logger
            ).collect()
            let record = try Self.evaluationRecord(inserted[0])
            return (record, record.id.uuidString.lowercased())
        }
    }

    public func evaluation(_ id: UUID) async throws -> RunEvaluationRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT \(unescaped: Self.evaluationColumns) FROM run_evaluations WHERE id = \(id)", logger: logger
            )
            .collect().first.map(Self.evaluationRecord)
        }
    }

    /// A page of the run's evaluations, oldest first, after (created_at, id); nil when there is no such run.
    public func evaluations(run: UUID, after: (Date, UUID)?, limit: Int) async throws -> [RunEvaluationRecord]? {
        let (afterTime, afterID) = (after?.0, after?.1)
        return try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard
                try await connection.sql(
                    "SELECT EXISTS (SELECT 1 FROM prediction_runs WHERE id = \(run))", logger: logger
                )
                .collect()[0].decode(Bool.self)
            else { return nil }
            return try await connection.sql(
                """
                SELECT \(unescaped: Self.evaluationColumns) FROM run_evaluations
                WHERE run_id = \(run)
                  AND (\(afterTime)::timestamptz IS NULL OR (created_at, id) > (\(afterTime)::timestamptz, \(afterID)::uuid))
                ORDER BY created_at, id LIMIT \(limit)
                """, logger: logger
            ).collect().map(Self.evaluationRecord)
        }
    }

    /// Every evaluated run of the dataset by its latest evaluation, best first; nil when there is no such dataset.
    public func leaderboard(dataset: UUID, metric: LeaderboardMetric, limit: Int) async throws -> [LeaderboardEntry]? {
        let (name, ascending) = (metric.rawValue, metric.lowerIsBetter)
        return try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard
                try await connection.sql(
                    "SELECT EXISTS (SELECT 1 FROM datasets WHERE id = \(dataset))", logger: logger
                )
                .collect()[0].decode(Bool.self)
            else { return nil }
            let rows = try await connection.sql(
                """
                WITH latest AS (
                    SELECT DISTINCT ON (run_id) * FROM run_evaluations WHERE dataset_id = \(dataset)
                    ORDER BY run_id, created_at DESC, id DESC
                ), scored AS (
                    SELECT l.*, CASE \(name)::text
                        WHEN 'accuracy' THEN l.accuracy WHEN 'macro_f1' THEN l.macro_f1 WHEN 'micro_f1' THEN l.micro_f1
                        WHEN 'weighted_f1' THEN l.weighted_f1 WHEN 'coverage' THEN l.coverage WHEN 'failure_rate' THEN l.failure_rate
                        WHEN 'latency_p50' THEN l.latency_p50 WHEN 'latency_mean' THEN l.latency_mean END AS value
                    FROM latest l
                )
                SELECT s.id, s.run_id, r.model_id, m.name, r.prompt_id, p.name, s.value, s.coverage, s.latency_p50, s.latency_mean, s.created_at
                FROM scored s JOIN prediction_runs r ON r.id = s.run_id JOIN models m ON m.id = r.model_id JOIN prompts p ON p.id = r.prompt_id
                ORDER BY CASE WHEN \(ascending) THEN s.value END ASC NULLS LAST,
                         CASE WHEN NOT \(ascending) THEN s.value END DESC NULLS LAST, s.created_at, s.id
                LIMIT \(limit)
                """, logger: logger
            ).collect()
            return try rows.map { row in
                let (id, run, model, modelName, prompt, promptName, value, coverage, p50, mean, at) =
                    try row.decode(
                        (UUID, UUID, UUID, String, UUID, String, Double?, Double, Double?, Double?, Date).self)
                return LeaderboardEntry(
                    evaluationID: id, runID: run, modelID: model, modelName: modelName, promptID: prompt,
                    promptName: promptName,
                    value: value, coverage: coverage, latencyP50: p50, latencyMean: mean, evaluatedAt: at)
            }
        }
    }

    static func evaluationRecord(_ row: PostgresRow) throws -> RunEvaluationRecord {
        let (id, run, dataset, status, options, metrics, createdBy, createdAt) =
            try row.decode((UUID, UUID, UUID, String, String, String, UUID?, Date).self)
        let decoder = JSONDecoder()
        return RunEvaluationRecord(
            id: id, runID: run, datasetID: dataset, runStatus: status,
            options: try decoder.decode(LabelNormalization.self, from: Data(options.utf8)),
            metrics: try decoder.decode(RunMetrics.self, from: Data(metrics.utf8)), createdBy: createdBy,
            createdAt: createdAt)
    }
}
