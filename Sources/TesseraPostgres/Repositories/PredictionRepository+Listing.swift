import Foundation
import PostgresNIO
import TesseraCore

/// One recorded prediction with its row's expectation.
public struct PredictionRecord: Sendable, Equatable {
    public let id: UUID
    public let rowID: UUID
    public let position: Int
    public let succeeded: Bool
    public let output: String?
    public let expected: String?
    public let latencySeconds: Double?
    public let error: String?
    public let createdAt: Date

    /// Succeeded with the expected output, surrounding white space ignored; nil when the row expects nothing.
    public var correct: Bool? {
        guard let expected else { return nil }
        guard succeeded, let output else { return false }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
            == expected.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Which predictions of a run to list.
public struct PredictionFilter: Sendable {
    public var succeeded: Bool?
    public var row: UUID?
    public var correct: Bool?

    public init(succeeded: Bool? = nil, row: UUID? = nil, correct: Bool? = nil) {
        self.succeeded = succeeded
        self.row = row
        self.correct = correct
    }
}

extension PredictionRepository {
    /// A page of the run's predictions in row-id order (the unique index's order, so every page is an index
    /// range however long the run), after the row id `after`; nil when there is no such run.
    public func predictions(run: UUID, filter: PredictionFilter, after: UUID?, limit: Int) async throws
        -> [PredictionRecord]?
    {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard
                try await connection.sql(
                    "SELECT EXISTS (SELECT 1 FROM prediction_runs WHERE id = \(run))", logger: logger
                )
                .collect()[0].decode(Bool.self)
            else { return nil }
            let outcome = filter.succeeded.map { $0 ? "succeeded" : "failed" }
            // btrim trims spaces; the white space Swift's `correct` ignores is matched by the regular expression.
            let rows = try await connection.sql(
                """
                SELECT p.id, p.row_id, r.position, p.outcome = 'succeeded', p.output, r.expected_prediction, p.latency_seconds,
                       p.error, p.created_at
                FROM predictions p JOIN rows r ON r.id = p.row_id
                WHERE p.run_id = \(run)
                  AND p.row_id > coalesce(\(after)::uuid, '00000000-0000-0000-0000-000000000000'::uuid)
                  AND (\(outcome)::text IS NULL OR p.outcome::text = \(outcome)::text)
                  AND (\(filter.row)::uuid IS NULL OR p.row_id = \(filter.row)::uuid)
                  AND (\(filter.correct)::bool IS NULL OR (r.expected_prediction IS NOT NULL AND
                       coalesce(p.outcome = 'succeeded' AND regexp_replace(p.output, '^\\s+|\\s+$', '', 'g')
                                = regexp_replace(r.expected_prediction, '^\\s+|\\s+$', '', 'g'), false) = \(filter.correct)::bool))
                ORDER BY p.row_id LIMIT \(limit)
                """, logger: logger
            ).collect()
            return try rows.map { row in
                let (id, rowID, position, succeeded, output, expected, latency, error, created) =
                    try row.decode((UUID, UUID, Int, Bool, String?, String?, Double?, String?, Date).self)
                return PredictionRecord(
                    id: id, rowID: rowID, position: position, succeeded: succeeded, output: output, expected: expected,
                    latencySeconds: latency, error: error, createdAt: created)
            }
        }
    }
}
