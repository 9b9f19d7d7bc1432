import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraEvaluation

/// A stored set of ground-truth annotations or of scored predictions.
public struct TermSetRecord: Sendable, Equatable {
    public enum Kind: Sendable { case annotations, predictions }
    public let id: UUID
    public let kind: Kind
    public let ontologyID: UUID
    public let name: String
    /// Lines with data (comments and blank lines aside).
    public let lines: Int
    /// Annotations, or distinct (target, term) predictions.
    public let entries: Int
    public let targets: Int
    /// Annotations left out for a NOT qualifier (annotation sets only).
    public let excludedNot: Int
    /// Lines naming a term the ontology does not know (left out).
    public let unknownTerms: Int
    public let createdAt: Date
}

/// An evaluation set: targets and terms gained between two annotation sets, by CAFA category and namespace.
public struct EvaluationSetRecord: Sendable, Equatable {
    public struct Count: Sendable, Equatable, Codable {
        public let targets: Int
        public let annotations: Int
    }
    public let id: UUID
    public let ontologyID: UUID
    public let name: String
    public let oldSetID: UUID
    public let newSetID: UUID
    /// category (NK, LK, PK) → namespace → counts.
    public let counts: [String: [String: Count]]
    public let createdAt: Date
}

extension CAFARepository {
    static let annotationSetColumns =
        "id, ontology_id, name, lines, annotations, targets, excluded_not, unknown_terms, created_at"
    static let predictionSetColumns = "id, ontology_id, name, lines, predictions, targets, 0, unknown_terms, created_at"

    /// Stores an annotation set whose body was checked whole (`checked`: its counts) and comes again in
    /// `batches` (nil at the end), streamed into the table as it comes: no more than a batch is held.
    public func storeAnnotationSet(
        _ checked: AnnotationUpload, name: String, ontology: UUID, createdBy: UUID?, audit: AuditEvent,
        batches: @escaping @Sendable () async throws -> [AnnotationUpload.Annotation]?
    ) async throws -> TermSetRecord {
        try await databases.audited(org: org, audit, logger: logger) { [logger] tx -> (TermSetRecord, String)? in
            // The annotations first, the set's row after them in the same transaction (with the distinct targets
            // the database counts: the set is never whole in memory to count them).
            try await Self.holdOntology(ontology, on: tx, logger: logger)
            let id = UUID()
            let setID = id.uuidString.lowercased()
            try await Self.copy(
                table: "annotations", columns: ["set_id", "target", "term", "evidence", "qualifier"], on: tx,
                logger: logger
            ) {
                try await batches().map { $0.map { [setID, $0.target, $0.term, $0.evidence, $0.qualifier] } }
            }
            let row = try await tx.sql(
                """
                INSERT INTO annotation_sets (id, ontology_id, name, lines, annotations, targets, excluded_not, unknown_terms, created_by)
                VALUES (\(id), \(ontology), \(name), \(checked.lines), \(checked.kept),
                        (SELECT count(DISTINCT target) FROM annotations WHERE set_id = \(id)),
                        \(checked.excludedNot), \(checked.unknownTerms), \(createdBy))
                RETURNING \(unescaped: Self.annotationSetColumns)
                """, logger: logger
            ).collect()[0]
            return (try Self.termSet(row, .annotations), setID)
        }.orInternalError()
    }

    public func storePredictionSet(
        _ upload: PredictionUpload, name: String, ontology: UUID, createdBy: UUID?, audit: AuditEvent
    ) async throws -> TermSetRecord {
        try await databases.audited(org: org, audit, logger: logger) { [logger] tx -> (TermSetRecord, String)? in
            try await Self.holdOntology(ontology, on: tx, logger: logger)
            let record = try await Self.insertPredictionSet(
                upload, name: name, ontology: ontology, createdBy: createdBy, on: tx, logger: logger)
            return (record, record.id.uuidString.lowercased())
        }.orInternalError()
    }

    /// A prediction set's row and scores, in the caller's transaction (which holds the ontology).
    static func insertPredictionSet(
        _ upload: PredictionUpload, name: String, ontology: UUID, createdBy: UUID?, on tx: PostgresConnection,
        logger: Logger
    ) async throws -> TermSetRecord {
        let row = try await tx.sql(
            """
            INSERT INTO prediction_sets (ontology_id, name, lines, predictions, targets, unknown_terms, created_by, lines_ordered)
            VALUES (\(ontology), \(name), \(upload.lines), \(upload.predictions), \(upload.byTarget.count), \(upload.unknownTerms), \(createdBy), true)
            RETURNING \(unescaped: Self.predictionSetColumns)
            """, logger: logger
        ).collect()[0]
        let record = try Self.termSet(row, .predictions)
        let id = record.id.uuidString.lowercased()
        try await Self.copy(
            table: "prediction_scores", columns: ["set_id", "target", "terms", "scores"], on: tx, logger: logger
        ) { line in
            for (target, scores) in upload.byTarget {
                line([
                    id, target, CopyText.arrayLiteral(scores.terms),
                    CopyText.arrayLiteral(scores.scores),
                ])
            }
        }
        return record
    }

    public func annotationSet(_ id: UUID) async throws -> TermSetRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT \(unescaped: Self.annotationSetColumns) FROM annotation_sets WHERE id = \(id)", logger: logger
            )
            .collect().first.map { try Self.termSet($0, .annotations) }
        }
    }

    public func predictionSet(_ id: UUID) async throws -> TermSetRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT \(unescaped: Self.predictionSetColumns) FROM prediction_sets WHERE id = \(id)", logger: logger
            )
            .collect().first.map { try Self.termSet($0, .predictions) }
        }
    }

    /// Whether the prediction set keeps each target's terms in the order their lines came (sets stored before
    /// migration 0016 do not).
    public func predictionsInLineOrder(_ id: UUID) async throws -> Bool {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql("SELECT lines_ordered FROM prediction_sets WHERE id = \(id)", logger: logger)
                .collect().first?.decode(Bool.self) ?? false
        }
    }

    /// A page of annotation or prediction sets, oldest first, after (created_at, id).
    public func termSets(_ kind: TermSetRecord.Kind, after: (Date, UUID)?, limit: Int) async throws -> [TermSetRecord] {
        let select =
            kind == .annotations
            ? "SELECT \(Self.annotationSetColumns) FROM annotation_sets"
            : "SELECT \(Self.predictionSetColumns) FROM prediction_sets"
        return try await page(select, after: after, limit: limit) { try Self.termSet($0, kind) }
    }

    /// The set's annotations as target → terms.
    public func annotations(_ set: UUID) async throws -> [String: [String]] {
        try await terms("SELECT target, term FROM annotations WHERE set_id = \(set)")
    }

    /// target → terms from a query of (target, term) rows.
    func terms(_ query: PostgresQuery) async throws -> [String: [String]] {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            var truth: [String: [String]] = [:]
            for try await row in try await connection.sql(query, logger: logger) {
                var columns = RowReader(row)
                let target = try columns.text()
                truth[target, default: []].append(try columns.text())
            }
            return truth
        }
    }

    /// The set's predictions as the evaluator's table.
    public func predictions(_ set: UUID) async throws -> CAFAPredictionTable {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            var table = CAFAPredictionTable()
            for try await row in try await connection.sql(
                "SELECT target, terms, scores FROM prediction_scores WHERE set_id = \(set)", logger: logger
            ) {
                var columns = RowReader(row)
                let target = try columns.text()
                let (terms, scores) = (
                    try BinaryArray.strings(columns.bytes()), try BinaryArray.doubles(columns.bytes())
                )
                guard terms.count == scores.count else { throw BinaryArray.Malformed() }
                table.append(target: target, terms: terms, scores: scores)
            }
            return table
        }
    }

    /// Stores `split` as the pair's evaluation set, with its truth and audit record; the pair's set made before
    /// (`created` false, nothing written) when there is one — one per pair, as seed 000/001 has it.
    public func storeEvaluationSet(
        name: String, ontology: UUID, old: UUID, new: UUID, split: CAFAEvaluationSplit, createdBy: UUID?,
        audit: AuditEvent
    ) async throws -> (set: EvaluationSetRecord, created: Bool) {
        var counts: [String: [String: EvaluationSetRecord.Count]] = [:]
        for (category, parts) in split.parts {
            for (namespace, part) in parts {
                counts[category.rawValue, default: [:]][namespace] = .init(
                    targets: part.targets, annotations: part.annotations)
            }
        }
        let countsText = try JSONText.encode(counts)
        return try await databases.change(org: org, logger: logger) {
            [logger] tx, trail -> (EvaluationSetRecord, Bool) in
            let pair = "\(old)/\(new)"
            try await tx.sql(
                "SELECT pg_advisory_xact_lock(\(AdvisoryLock.evaluationSetPair), hashtext(\(pair)))", logger: logger)
            if let made = try await Self.evaluationSet(old: old, new: new, on: tx, logger: logger) {
                return (made, false)
            }
            let row = try await tx.sql(
                """
                INSERT INTO evaluation_sets (ontology_id, name, old_set_id, new_set_id, counts, created_by)
                VALUES (\(ontology), \(name), \(old), \(new), \(countsText)::jsonb, \(createdBy))
                RETURNING id, ontology_id, name, old_set_id, new_set_id, counts::text, created_at
                """, logger: logger
            ).collect()[0]
            let record = try Self.evaluationSet(row)
            let id = record.id.uuidString.lowercased()
            try await Self.copy(
                table: "evaluation_set_truth", columns: ["set_id", "category", "namespace", "target", "term"], on: tx,
                logger: logger
            ) {
                line in
                for (category, parts) in split.parts {
                    for (namespace, part) in parts {
                        for (target, terms) in part.truth {
                            for term in terms { line([id, category.rawValue, namespace, target, term]) }
                        }
                    }
                }
            }
            try await trail.write(audit, entityID: id)
            return (record, true)
        }
    }

    /// The evaluation set of a pair of annotation sets (the oldest, should an older database hold two).
    public func evaluationSet(old: UUID, new: UUID) async throws -> EvaluationSetRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await Self.evaluationSet(old: old, new: new, on: connection, logger: logger)
        }
    }

    static func evaluationSet(old: UUID, new: UUID, on connection: PostgresConnection, logger: Logger) async throws
        -> EvaluationSetRecord?
    {
        try await connection.sql(
            """
            SELECT id, ontology_id, name, old_set_id, new_set_id, counts::text, created_at FROM evaluation_sets
            WHERE old_set_id = \(old) AND new_set_id = \(new) ORDER BY created_at, id LIMIT 1
            """, logger: logger
        ).collect().first.map(Self.evaluationSet)
    }

    /// The org's evaluation sets, oldest first, after the (created_at, id) cursor.
    public func evaluationSets(after: (Date, UUID)?, limit: Int) async throws -> [EvaluationSetRecord] {
        let (afterTime, afterID) = (after?.0, after?.1)
        return try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                """
                SELECT id, ontology_id, name, old_set_id, new_set_id, counts::text, created_at FROM evaluation_sets
                WHERE \(afterTime)::timestamptz IS NULL OR (created_at, id) > (\(afterTime)::timestamptz, \(afterID)::uuid)
                ORDER BY created_at, id LIMIT \(limit)
                """, logger: logger
            ).collect().map(Self.evaluationSet)
        }
    }

    public func evaluationSet(_ id: UUID) async throws -> EvaluationSetRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT id, ontology_id, name, old_set_id, new_set_id, counts::text, created_at FROM evaluation_sets WHERE id = \(id)",
                logger: logger
            ).collect().first.map(Self.evaluationSet)
        }
    }

    /// The ground truth of one category of the evaluation set, all namespaces, as target → terms.
    public func evaluationTruth(_ set: UUID, category: CAFACategory) async throws -> [String: [String]] {
        try await terms(
            "SELECT target, term FROM evaluation_set_truth WHERE set_id = \(set) AND category = \(category.rawValue)")
    }

    static func termSet(_ row: PostgresRow, _ kind: TermSetRecord.Kind) throws -> TermSetRecord {
        let (id, ontology, name, lines, entries, targets, excluded, unknown, created) =
            try row.decode((UUID, UUID, String, Int, Int, Int, Int, Int, Date).self)
        return TermSetRecord(
            id: id, kind: kind, ontologyID: ontology, name: name, lines: lines, entries: entries, targets: targets,
            excludedNot: excluded,
            unknownTerms: unknown, createdAt: created)
    }

    static func evaluationSet(_ row: PostgresRow) throws -> EvaluationSetRecord {
        let (id, ontology, name, old, new, counts, created) = try row.decode(
            (UUID, UUID, String, UUID, UUID, String, Date).self)
        return EvaluationSetRecord(
            id: id, ontologyID: ontology, name: name, oldSetID: old, newSetID: new,
            counts: try JSONDecoder().decode(
                [String: [String: EvaluationSetRecord.Count]].self, from: Data(counts.utf8)),
            createdAt: created)
    }
}

extension Optional {
    /// The value; a 500 when a write that must return a row returned none.
    func orInternalError() throws -> Wrapped {
        guard let self else { throw TesseraError.internalError }
        return self
    }
}
