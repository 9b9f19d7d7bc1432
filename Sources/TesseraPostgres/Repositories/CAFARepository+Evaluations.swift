import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraEvaluation

/// What a CAFA evaluation was asked to do, stored with its result so it can be reproduced.
public struct CAFARequest: Sendable, Equatable, Codable {
    public var predictionSetID: UUID
    public var annotationSetID: UUID?
    public var evaluationSetID: UUID?
    public var category: CAFACategory?
    public var thresholdStep: Double
    public var normalization: CAFANormalization
    public var includeOrphans: Bool
    /// cafaeval's `-prop` (stored evaluations made before it existed were `max`).
    public var propagation: CAFAPropagation
    /// cafaeval's `-max_terms` (nil for no limit).
    public var maxTerms: Int?
    /// cafaeval-protea's `-toi`: the terms evaluated (nil for all).
    public var termsOfInterest: [String]?
    /// cafaeval-protea's `-known`: the annotation set whose annotations each target is not evaluated on.
    public var knownAnnotationSetID: UUID?
    /// The information-accretion file as uploaded (`term value` lines), when the evaluation is weighted.
    public var informationAccretion: String?

    enum CodingKeys: String, CodingKey {
        case predictionSetID = "prediction_set_id"
        case annotationSetID = "annotation_set_id"
        case evaluationSetID = "evaluation_set_id"
        case category
        case thresholdStep = "threshold_step"
        case normalization
        case includeOrphans = "include_orphans"
        case propagation
        case maxTerms = "max_terms"
        case termsOfInterest = "terms_of_interest"
        case knownAnnotationSetID = "known_annotation_set_id"
        case informationAccretion = "information_accretion"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        predictionSetID = try c.decode(UUID.self, forKey: .predictionSetID)
        annotationSetID = try c.decodeIfPresent(UUID.self, forKey: .annotationSetID)
        evaluationSetID = try c.decodeIfPresent(UUID.self, forKey: .evaluationSetID)
        category = try c.decodeIfPresent(CAFACategory.self, forKey: .category)
        thresholdStep = try c.decode(Double.self, forKey: .thresholdStep)
        normalization = try c.decode(CAFANormalization.self, forKey: .normalization)
        includeOrphans = try c.decode(Bool.self, forKey: .includeOrphans)
        propagation = try c.decodeIfPresent(CAFAPropagation.self, forKey: .propagation) ?? .max
        maxTerms = try c.decodeIfPresent(Int.self, forKey: .maxTerms)
        termsOfInterest = try c.decodeIfPresent([String].self, forKey: .termsOfInterest)
        knownAnnotationSetID = try c.decodeIfPresent(UUID.self, forKey: .knownAnnotationSetID)
        informationAccretion = try c.decodeIfPresent(String.self, forKey: .informationAccretion)
    }

    public init(
        predictionSetID: UUID, annotationSetID: UUID?, evaluationSetID: UUID?, category: CAFACategory?,
        thresholdStep: Double,
        normalization: CAFANormalization, includeOrphans: Bool, propagation: CAFAPropagation = .max,
        maxTerms: Int? = nil, termsOfInterest: [String]? = nil, knownAnnotationSetID: UUID? = nil,
        informationAccretion: String?
    ) {
        self.predictionSetID = predictionSetID
        self.annotationSetID = annotationSetID
        self.evaluationSetID = evaluationSetID
        self.category = category
        self.thresholdStep = thresholdStep
        self.normalization = normalization
        self.includeOrphans = includeOrphans
        self.propagation = propagation
        self.maxTerms = maxTerms
        self.termsOfInterest = termsOfInterest
        self.knownAnnotationSetID = knownAnnotationSetID
        self.informationAccretion = informationAccretion
    }
}

/// A stored CAFA evaluation.
public struct CAFAEvaluationRecord: Sendable, Equatable {
    public let id: UUID
    public let ontologyID: UUID
    public let request: CAFARequest
    public let result: CAFAResult
    /// Time spent loading the inputs and evaluating.
    public let seconds: Double
    public let createdBy: UUID?
    public let createdAt: Date
}

extension CAFARepository {
    static let evaluationColumns = """
        id, ontology_id, prediction_set_id, annotation_set_id, evaluation_set_id, category, options::text, information_accretion,
        result::text, seconds, created_by, created_at
        """

    public func storeEvaluation(
        _ request: CAFARequest, ontology: UUID, result: CAFAResult, seconds: Double, createdBy: UUID?, audit: AuditEvent
    ) async throws -> CAFAEvaluationRecord {
        try await databases.audited(org: org, audit, logger: logger) {
            [logger] tx -> (CAFAEvaluationRecord, String)? in
            let record = try await Self.insertEvaluation(
                request, ontology: ontology, result: result, seconds: seconds, createdBy: createdBy, on: tx,
                logger: logger)
            return (record, record.id.uuidString.lowercased())
        }.orInternalError()
    }

    /// An evaluation's row, in the caller's transaction: the request's options as JSON beside its
    /// information-accretion file, and the result.
    static func insertEvaluation(
        _ request: CAFARequest, ontology: UUID, result: CAFAResult, seconds: Double, createdBy: UUID?,
        on tx: PostgresConnection, logger: Logger
    ) async throws -> CAFAEvaluationRecord {
        var options = request
        options.informationAccretion = nil
        let row = try await tx.sql(
            """
            INSERT INTO cafa_evaluations (ontology_id, prediction_set_id, annotation_set_id, evaluation_set_id, category, options,
                                          information_accretion, result, seconds, created_by)
            VALUES (\(ontology), \(request.predictionSetID), \(request.annotationSetID), \(request.evaluationSetID),
                    \(request.category?.rawValue), \(try JSONText.encode(options))::jsonb, \(request.informationAccretion),
                    \(try JSONText.encode(result))::jsonb, \(seconds), \(createdBy))
            RETURNING \(unescaped: Self.evaluationColumns)
            """, logger: logger
        ).collect()[0]
        return try Self.evaluation(row)
    }

    public func evaluation(_ id: UUID) async throws -> CAFAEvaluationRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT \(unescaped: Self.evaluationColumns) FROM cafa_evaluations WHERE id = \(id)", logger: logger
            )
            .collect().first.map(Self.evaluation)
        }
    }

    /// A page of evaluations, oldest first, after (created_at, id).
    public func evaluations(after: (Date, UUID)?, limit: Int) async throws -> [CAFAEvaluationRecord] {
        try await page(
            "SELECT \(Self.evaluationColumns) FROM cafa_evaluations", after: after, limit: limit, Self.evaluation)
    }

    static func evaluation(_ row: PostgresRow) throws -> CAFAEvaluationRecord {
        let (id, ontology, _, _, _, _, options, ia, result, seconds, createdBy, created) =
            try row.decode((UUID, UUID, UUID, UUID?, UUID?, String?, String, String?, String, Double, UUID?, Date).self)
        let decoder = JSONDecoder()
        var request = try decoder.decode(CAFARequest.self, from: Data(options.utf8))
        request.informationAccretion = ia
        return CAFAEvaluationRecord(
            id: id, ontologyID: ontology, request: request,
            result: try decoder.decode(CAFAResult.self, from: Data(result.utf8)),
            seconds: seconds, createdBy: createdBy, createdAt: created)
    }
}

/// One prediction set against one evaluation set in every category (PROTEA's `EvaluationResult`).
public struct EvaluationResultRecord: Sendable, Equatable {
    public let id: UUID
    public let predictionSetID: UUID
    public let evaluationSetID: UUID
    public let evaluations: [CAFACategory: CAFAEvaluationRecord]
    public let seconds: Double
    public let createdAt: Date
}

/// An information-accretion file attached to an ontology snapshot.
public struct AttachedInformationAccretion: Sendable, Equatable {
    public let ontologyID: UUID
    public let content: String
    public let terms: Int
    public let sha256: String
    public let createdAt: Date
}

extension CAFARepository {
    /// Attaches (or replaces) the snapshot's information-accretion file, with its `ontology.ia_set` record.
    public func attachInformationAccretion(
        _ content: String, terms: Int, sha256: String, ontology: UUID, createdBy: UUID?, by actor: AuditActor
    ) async throws -> AttachedInformationAccretion {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            try await Self.holdOntology(ontology, on: tx, logger: logger)
            let row = try await tx.sql(
                """
                INSERT INTO ontology_information_accretion (ontology_id, content, terms, sha256, created_by)
                VALUES (\(ontology), \(content), \(terms), \(sha256), \(createdBy))
                ON CONFLICT (ontology_id) DO UPDATE SET content = excluded.content, terms = excluded.terms,
                    sha256 = excluded.sha256, created_by = excluded.created_by, created_at = now()
                RETURNING ontology_id, content, terms, sha256, created_at
                """, logger: logger
            ).collect()[0]
            try await trail.record(
                .ontologyInformationAccretionSet, by: actor, entityType: "ontology", entityID: ontology,
                metadata: ["terms": String(terms), "sha256": sha256])
            return try Self.attached(row)
        }
    }

    public func informationAccretion(ontology: UUID) async throws -> AttachedInformationAccretion? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                """
                SELECT ontology_id, content, terms, sha256, created_at FROM ontology_information_accretion
                WHERE ontology_id = \(ontology)
                """, logger: logger
            ).collect().first.map(Self.attached)
        }
    }

    static func attached(_ row: PostgresRow) throws -> AttachedInformationAccretion {
        let (ontology, content, terms, sha, created) = try row.decode((UUID, String, Int, String, Date).self)
        return AttachedInformationAccretion(
            ontologyID: ontology, content: content, terms: terms, sha256: sha, createdAt: created)
    }

    /// The result kept for these options, if any.
    public func evaluationResult(predictionSet: UUID, evaluationSet: UUID, optionsKey: String) async throws
        -> EvaluationResultRecord?
    {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await Self.evaluationResult(
                predictionSet: predictionSet, evaluationSet: evaluationSet, optionsKey: optionsKey, on: connection,
                logger: logger)
        }
    }

    static func evaluationResult(
        predictionSet: UUID, evaluationSet: UUID, optionsKey: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> EvaluationResultRecord? {
        guard
            let id = try await connection.sql(
                """
                SELECT id FROM evaluation_results WHERE prediction_set_id = \(predictionSet)
                  AND evaluation_set_id = \(evaluationSet) AND options_key = \(optionsKey)
                """, logger: logger
            ).collect().first?.decode(UUID.self)
        else { return nil }
        return try await evaluationResult(id, on: connection, logger: logger)
    }

    public func evaluationResult(_ id: UUID) async throws -> EvaluationResultRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await Self.evaluationResult(id, on: connection, logger: logger)
        }
    }

    static func evaluationResult(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws
        -> EvaluationResultRecord?
    {
        guard
            let row = try await connection.sql(
                """
                SELECT prediction_set_id, evaluation_set_id, nk_evaluation_id, lk_evaluation_id, pk_evaluation_id,
                       seconds, created_at
                FROM evaluation_results WHERE id = \(id)
                """, logger: logger
            ).collect().first
        else { return nil }
        let (predictionSet, evaluationSet, nk, lk, pk, seconds, created) = try row.decode(
            (UUID, UUID, UUID, UUID, UUID, Double, Date).self)
        let ids: [CAFACategory: UUID] = [.nk: nk, .lk: lk, .pk: pk]
        var evaluations: [CAFACategory: CAFAEvaluationRecord] = [:]
        for row in try await connection.sql(
            "SELECT \(unescaped: evaluationColumns) FROM cafa_evaluations WHERE id = ANY(\([nk, lk, pk])::uuid[])",
            logger: logger
        ).collect() {
            let record = try evaluation(row)
            if let category = ids.first(where: { $0.value == record.id })?.key { evaluations[category] = record }
        }
        guard evaluations.count == 3 else { throw TesseraError.internalError }
        return EvaluationResultRecord(
            id: id, predictionSetID: predictionSet, evaluationSetID: evaluationSet, evaluations: evaluations,
            seconds: seconds, createdAt: created)
    }

    /// Stores the three categories' evaluations and the result that groups them, one `cafa_evaluation.create`
    /// record each and an `evaluation_result.create`. When a result with these options was stored meanwhile (a
    /// concurrent request), nothing is written and that one is returned, `created` false.
    public func storeEvaluationResult(
        _ request: CAFARequest, optionsKey: String, ontology: UUID, results: [CAFACategory: CAFAResult],
        seconds: Double, createdBy: UUID?, by actor: AuditActor
    ) async throws -> (record: EvaluationResultRecord, created: Bool) {
        guard let evaluationSet = request.evaluationSetID else { throw TesseraError.internalError }
        return try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            try await tx.sql(
                "SELECT pg_advisory_xact_lock(hashtext(\(request.predictionSetID)::text || \(evaluationSet)::text || \(optionsKey)))",
                logger: logger)
            if let kept = try await Self.evaluationResult(
                predictionSet: request.predictionSetID, evaluationSet: evaluationSet, optionsKey: optionsKey, on: tx,
                logger: logger)
            {
                return (kept, false)
            }
            var ids: [CAFACategory: UUID] = [:]
            for category in CAFACategory.allCases {
                guard let result = results[category] else { throw TesseraError.internalError }
                var one = request
                one.category = category
                let id = try await Self.insertEvaluation(
                    one, ontology: ontology, result: result, seconds: seconds / 3, createdBy: createdBy, on: tx,
                    logger: logger
                ).id
                ids[category] = id
                try await trail.record(
                    .cafaEvaluationCreate, by: actor, entityType: "cafa_evaluation", entityID: id,
                    metadata: [
                        "prediction_set_id": request.predictionSetID.uuidString.lowercased(),
                        "category": category.rawValue,
                    ])
            }
            let id = try await tx.sql(
                """
                INSERT INTO evaluation_results (prediction_set_id, evaluation_set_id, options_key, nk_evaluation_id,
                    lk_evaluation_id, pk_evaluation_id, seconds, created_by)
                VALUES (\(request.predictionSetID), \(evaluationSet), \(optionsKey), \(ids[.nk]), \(ids[.lk]),
                    \(ids[.pk]), \(seconds), \(createdBy))
                RETURNING id
                """, logger: logger
            ).collect()[0].decode(UUID.self)
            try await trail.record(
                .evaluationResultCreate, by: actor, entityType: "evaluation_result", entityID: id,
                metadata: [
                    "prediction_set_id": request.predictionSetID.uuidString.lowercased(),
                    "evaluation_set_id": evaluationSet.uuidString.lowercased(),
                ])
            guard let record = try await Self.evaluationResult(id, on: tx, logger: logger) else {
                throw TesseraError.internalError
            }
            return (record, true)
        }
    }
}
