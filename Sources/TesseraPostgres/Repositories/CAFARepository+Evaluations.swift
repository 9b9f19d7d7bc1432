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
        var options = request
        options.informationAccretion = nil
        let optionsText = try JSONText.encode(options)
        let resultText = try JSONText.encode(result)
        return try await databases.audited(org: org, audit, logger: logger) {
            [logger] tx -> (CAFAEvaluationRecord, String)? in
            let row = try await tx.sql(
                """
                INSERT INTO cafa_evaluations (ontology_id, prediction_set_id, annotation_set_id, evaluation_set_id, category, options,
                                              information_accretion, result, seconds, created_by)
                VALUES (\(ontology), \(request.predictionSetID), \(request.annotationSetID), \(request.evaluationSetID),
                        \(request.category?.rawValue), \(optionsText)::jsonb, \(request.informationAccretion), \(resultText)::jsonb, \(seconds),
                        \(createdBy))
                RETURNING \(unescaped: Self.evaluationColumns)
                """, logger: logger
            ).collect()[0]
            let record = try Self.evaluation(row)
            return (record, record.id.uuidString.lowercased())
        }.orInternalError()
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
