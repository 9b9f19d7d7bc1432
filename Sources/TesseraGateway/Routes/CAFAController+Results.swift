import Crypto
import Foundation
import OpenAPIRuntime
import TesseraCore
import TesseraEvaluation
import TesseraPostgres

/// What an evaluation reads besides its ground truth, loaded once (an evaluation result reads it for all three
/// categories): the request as evaluated (its information-accretion file the ontology's when it named none), the
/// ontology, the predictions, the known annotations, the weights.
struct PreparedEvaluation: Sendable {
    let request: CAFARequest
    let ontology: CAFAOntology
    let table: CAFAPredictionTable
    let known: [String: [String]]?
    let weights: [String: Double]?
    let options: CAFAOptions

    func evaluate(_ truth: [String: [String]], compute: HeavyWork.Compute) async throws -> CAFAResult {
        try await compute { [self] in
            CAFAEvaluator(ontology: ontology).evaluate(
                truth: CAFATruthTable(truth), predictions: table, informationAccretion: weights,
                termsOfInterest: request.termsOfInterest, known: known.map(CAFATruthTable.init), options: options,
                perform: HeavyWork.concurrentPerform)
        }
    }
}

extension CAFAController {
    /// The request as it will be evaluated: without a file of its own, the ontology's information accretion
    /// (unless `useAttached` is false).
    func resolved(_ request: CAFARequest, ontology: UUID, useAttached: Bool) async throws -> CAFARequest {
        guard request.informationAccretion == nil, useAttached,
            let attached = try await cafa().informationAccretion(ontology: ontology)
        else { return request }
        var resolved = request
        resolved.informationAccretion = attached.content
        return resolved
    }

    /// Loads what `request` reads besides the truth; 422 for what it names and the org does not have.
    func prepare(_ request: CAFARequest, compute: HeavyWork.Compute) async throws -> PreparedEvaluation {
        let repository = try cafa()
        guard let predictions = try await repository.predictionSet(request.predictionSetID) else {
            throw TesseraError.unprocessable("no prediction set \(Self.id(request.predictionSetID))")
        }
        if request.maxTerms != nil, try await !repository.predictionsInLineOrder(request.predictionSetID) {
            throw TesseraError.unprocessable(
                "max_terms reads a target's terms in their lines' order, which this prediction set was stored without: "
                    + "upload it again")
        }
        var known: [String: [String]]?
        if let knownID = request.knownAnnotationSetID {
            guard let set = try await repository.annotationSet(knownID) else {
                throw TesseraError.unprocessable("no annotation set \(Self.id(knownID)) (known_annotation_set_id)")
            }
            guard set.ontologyID == predictions.ontologyID else {
                throw TesseraError.unprocessable("the known annotations name another ontology than the predictions")
            }
            known = try await repository.annotations(knownID)
        }
        // The ontology and the predictions are read at once, each on a connection of its own, while the weights
        // are parsed: decoding one while the database sends the other.
        async let ontology = repository.evaluationOntology(predictions.ontologyID)
        async let table = repository.predictions(request.predictionSetID)
        var weights: [String: Double]?
        if let ia = request.informationAccretion {
            do {
                weights = try await compute { try InformationAccretion.parse(ia) }
            } catch let problem as UploadProblem {
                throw TesseraError.unprocessable("information_accretion: \(problem.description)")
            }
        }
        return PreparedEvaluation(
            request: request, ontology: try await ontology, table: try await table, known: known, weights: weights,
            options: CAFAOptions(
                thresholdStep: request.thresholdStep, normalization: request.normalization,
                includeOrphans: request.includeOrphans, threads: heavy.gate.limits.total,
                propagation: request.propagation, maxTerms: request.maxTerms))
    }

    // MARK: - Information accretion attached to an ontology

    func putInformationAccretion(_ input: Operations.putInformationAccretion.Input) async throws
        -> Operations.putInformationAccretion.Output
    {
        let body: HTTPBody
        switch input.body {
        case .plainText(let b): body = b
        case .text_tab_hyphen_separated_hyphen_values(let b): body = b
        }
        let repository = try cafa()
        let ontology = try Self.objectID(input.path.id)
        guard try await repository.ontology(ontology) != nil else { throw TesseraError.notFound("no such ontology") }
        return try await heavily { compute in
            var bytes: [UInt8] = []
            for try await chunk in body {
                bytes.append(contentsOf: chunk)
                guard bytes.count <= 64 << 20 else {
                    throw TesseraError.unprocessable("an information-accretion file is at most 64 MiB")
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            let weights: [String: Double]
            do {
                weights = try await compute { try InformationAccretion.parse(text) }
            } catch let problem as UploadProblem {
                throw TesseraError.unprocessable(problem.description)
            }
            guard !weights.isEmpty else { throw TesseraError.unprocessable("the file names no term") }
            let attached = try await repository.attachInformationAccretion(
                text, terms: weights.count, sha256: SHA256.hash(data: bytes).hexString, ontology: ontology,
                createdBy: Self.currentUserID, by: auditActor())
            return .ok(.init(body: .json(Self.schema(attached))))
        }
    }

    func getInformationAccretion(_ input: Operations.getInformationAccretion.Input) async throws
        -> Operations.getInformationAccretion.Output
    {
        guard let attached = try await cafa().informationAccretion(ontology: try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("the ontology has no information-accretion file")
        }
        return .ok(.init(body: .json(Self.schema(attached))))
    }

    // MARK: - Evaluation results (every category) and the benchmark matrix

    func createEvaluationResult(_ input: Operations.createEvaluationResult.Input) async throws
        -> Operations.createEvaluationResult.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let request = try Self.cafaRequest(body, everyCategory: true)
        let useAttached = body.use_ontology_information_accretion ?? true
        let (record, created) = try await heavily { compute in
            try await evaluationResult(request, useAttached: useAttached, compute: compute)
        }
        let schema = try Self.schema(record, categories: CAFACategory.allCases, cached: !created)
        return created ? .created(.init(body: .json(schema))) : .ok(.init(body: .json(schema)))
    }

    func getEvaluationResult(_ input: Operations.getEvaluationResult.Input) async throws
        -> Operations.getEvaluationResult.Output
    {
        guard let record = try await cafa().evaluationResult(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such evaluation result")
        }
        let categories =
            input.query.category.map { [CAFACategory(rawValue: $0.rawValue) ?? .nk] } ?? CAFACategory.allCases
        return .ok(.init(body: .json(try Self.schema(record, categories: categories, cached: true))))
    }

    func createBenchmarkMatrix(_ input: Operations.createBenchmarkMatrix.Input) async throws
        -> Operations.createBenchmarkMatrix.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let predictionSets = Array(NSOrderedSet(array: body.prediction_set_ids)) as? [String] ?? []
        let evaluationSets = Array(NSOrderedSet(array: body.evaluation_set_ids)) as? [String] ?? []
        guard (1...20).contains(predictionSets.count), (1...20).contains(evaluationSets.count) else {
            throw TesseraError.unprocessable("1–20 prediction sets and 1–20 evaluation sets")
        }
        var requests: [CAFARequest] = []
        for p in predictionSets {
            for e in evaluationSets {
                requests.append(
                    try Self.cafaRequest(
                        .init(
                            prediction_set_id: p, evaluation_set_id: e, threshold_step: body.threshold_step,
                            normalization: body.normalization.flatMap { .init(rawValue: $0.rawValue) },
                            include_orphans: body.include_orphans,
                            propagation: body.propagation.flatMap { .init(rawValue: $0.rawValue) }),
                        everyCategory: true))
            }
        }
        let useAttached = body.use_ontology_information_accretion ?? true
        var cells: [Components.Schemas.BenchmarkCell] = []
        for request in requests {
            // One heavy-work slot a cell: a large matrix waits its turn cell by cell, as other work does.
            let (record, created) = try await heavily { compute in
                try await evaluationResult(request, useAttached: useAttached, compute: compute)
            }
            cells.append(
                .init(
                    prediction_set_id: Self.id(record.predictionSetID),
                    evaluation_set_id: Self.id(record.evaluationSetID), evaluation_result_id: Self.id(record.id),
                    cached: !created,
                    categories: .init(
                        additionalProperties: Dictionary(
                            uniqueKeysWithValues: record.evaluations.map { category, evaluation in
                                (
                                    category.rawValue,
                                    evaluation.result.namespaces.map {
                                        Components.Schemas.BenchmarkScore(
                                            namespace: $0.namespace, targets: $0.targets, f_max: $0.best.f?.value,
                                            s_min: $0.best.s?.value, f_max_w: $0.best.fW?.value,
                                            s_min_w: $0.best.sW?.value)
                                    }
                                )
                            }))))
        }
        return .ok(.init(body: .json(.init(cells: cells))))
    }

    /// The stored result for the request's options, or a new one: every category evaluated on one load of the
    /// predictions; `created` false when it was kept from before.
    func evaluationResult(_ request: CAFARequest, useAttached: Bool, compute: HeavyWork.Compute) async throws
        -> (EvaluationResultRecord, Bool)
    {
        let started = ContinuousClock.now
        let repository = try cafa()
        guard let evaluationSetID = request.evaluationSetID else { throw TesseraError.internalError }
        guard let predictions = try await repository.predictionSet(request.predictionSetID) else {
            throw TesseraError.unprocessable("no prediction set \(Self.id(request.predictionSetID))")
        }
        guard let set = try await repository.evaluationSet(evaluationSetID) else {
            throw TesseraError.unprocessable("no evaluation set \(Self.id(evaluationSetID))")
        }
        guard set.ontologyID == predictions.ontologyID else {
            throw TesseraError.unprocessable("the prediction set and the ground truth name different ontologies")
        }
        let resolved = try await resolved(request, ontology: predictions.ontologyID, useAttached: useAttached)
        let key = try Self.optionsKey(resolved)
        if let kept = try await repository.evaluationResult(
            predictionSet: request.predictionSetID, evaluationSet: evaluationSetID, optionsKey: key)
        {
            return (kept, false)
        }
        let prepared = try await prepare(resolved, compute: compute)
        var results: [CAFACategory: CAFAResult] = [:]
        for category in CAFACategory.allCases {
            results[category] = try await prepared.evaluate(
                try await repository.evaluationTruth(evaluationSetID, category: category), compute: compute)
        }
        let elapsed = ContinuousClock.now - started
        let (record, created) = try await repository.storeEvaluationResult(
            resolved, optionsKey: key, ontology: predictions.ontologyID, results: results,
            seconds: elapsed.inSeconds,
            createdBy: Self.currentUserID, by: auditActor())
        return (record, created)
    }

    /// The options that make a result, as sorted JSON with the information-accretion file by its SHA-256.
    static func optionsKey(_ request: CAFARequest) throws -> String {
        var options = request
        options.category = nil
        options.informationAccretion = request.informationAccretion.map {
            "sha256:" + SHA256.hash(data: Array($0.utf8)).hexString
        }
        return try JSONText.encode(options)
    }

    static func schema(_ a: AttachedInformationAccretion) -> Components.Schemas.InformationAccretion {
        .init(ontology_id: id(a.ontologyID), terms: a.terms, sha256: a.sha256, created_at: a.createdAt)
    }

    static func schema(_ r: EvaluationResultRecord, categories: [CAFACategory], cached: Bool) throws
        -> Components.Schemas.EvaluationResult
    {
        var byCategory: [String: Components.Schemas.CAFAEvaluation] = [:]
        for category in categories {
            guard let evaluation = r.evaluations[category] else { continue }
            byCategory[category.rawValue] = try schema(evaluation, curves: false)
        }
        return .init(
            id: id(r.id), prediction_set_id: id(r.predictionSetID), evaluation_set_id: id(r.evaluationSetID),
            cached: cached, seconds: r.seconds, categories: .init(additionalProperties: byCategory),
            created_at: r.createdAt)
    }
}
