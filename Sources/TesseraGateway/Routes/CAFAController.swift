import Foundation
import Logging
import OpenAPIRuntime
import TesseraCore
import TesseraEvaluation
import TesseraPostgres

/// `/v1/orgs/{org}/ontologies`, `/annotation-sets`, `/prediction-sets`, `/evaluation-sets`, `/cafa-evaluations`:
/// CAFA-style evaluation of predicted ontology terms.
struct CAFAController: HeavyController {
    let tenants: TenantDatabases
    let heavy: HeavyWork
    let baseLogger: Logger

    /// The file is received whole before a heavy-work slot is taken: a slow sender holds none.
    func uploadOntology(_ input: Operations.uploadOntology.Input) async throws -> Operations.uploadOntology.Output {
        let body: HTTPBody
        switch input.body {
        case .plainText(let b): body = b
        case .binary(let b): body = b
        }
        return try await heavily { compute in
            // Parsed and hashed chunk by chunk as the body comes (from the spool the access chain wrote it to):
            // only the terms are held.
            let reader = OntologyUpload.Reader()
            let upload: OntologyUpload
            do {
                for try await chunk in body { try await compute { try reader.feed(chunk) } }
                upload = try await compute { try reader.finish() }
            } catch let problem as any Error & CustomStringConvertible
                where problem is OBOParseError || problem is CAFAOntologyError
                || problem is OntologyUpload.NoTerms
            {
                throw TesseraError.unprocessable(problem.description)
            }
            return try await storeOntology(upload)
        }
    }

    func storeOntology(_ upload: OntologyUpload) async throws -> Operations.uploadOntology.Output {
        let repository = try cafa()
        let (record, created) = try await repository.storeOntology(
            upload, createdBy: Self.currentUserID,
            audit: audit(
                .ontologyCreate, org: repository.org, entityType: "ontology",
                metadata: ["version": String(upload.version.prefix(200))]))
        guard created else { return .ok(.init(body: .json(Self.schema(record)))) }
        return .created(.init(body: .json(Self.schema(record))))
    }

    func listOntologies(_ input: Operations.listOntologies.Input) async throws -> Operations.listOntologies.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let records = try await cafa().ontologies(after: try input.query.cursor.map(Self.timeCursor), limit: limit + 1)
        let (page, next) = Self.page(records, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func getOntology(_ input: Operations.getOntology.Input) async throws -> Operations.getOntology.Output {
        guard let record = try await cafa().ontology(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such ontology")
        }
        return .ok(.init(body: .json(Self.schema(record))))
    }

    func deleteOntology(_ input: Operations.deleteOntology.Input) async throws -> Operations.deleteOntology.Output {
        switch try await cafa().deleteOntology(try Self.objectID(input.path.id), by: auditActor()) {
        case .deleted: return .noContent(.init())
        case .notFound: throw TesseraError.notFound("no such ontology")
        case .busy: throw TesseraError.conflict("a set of this ontology is being stored now; retry once it is done")
        case .usedBy(let users):
            throw TesseraError.conflict("the ontology is used by \(users.joined(separator: ", "))")
        }
    }

    func getOntologyTerm(_ input: Operations.getOntologyTerm.Input) async throws -> Operations.getOntologyTerm.Output {
        let repository = try cafa()
        let ontology = try Self.objectID(input.path.id)
        guard try await repository.ontology(ontology) != nil else { throw TesseraError.notFound("no such ontology") }
        guard let t = try await repository.term(input.path.term, ontology: ontology) else {
            throw TesseraError.notFound("no such term")
        }
        return .ok(
            .init(
                body: .json(
                    .init(
                        term: t.term, namespace: t.namespace, name: t.name, definition: t.definition,
                        obsolete: t.obsolete,
                        alt_ids: t.altIDs,
                        parents: t.parents.map {
                            .init(term: $0.term, relation: .init(rawValue: $0.relation) ?? .is_a)
                        },
                        ancestors: t.ancestors.map { .init(term: $0.term, name: $0.name, namespace: $0.namespace) }))))
    }

    /// Spooled to disk as it arrives (no heavy-work slot is held while a slow sender sends), then under a slot
    /// read twice a few MiB at a time: once to check every line (a bad one is a 422 before anything is written),
    /// once streamed into the database.
    func createAnnotationSet(_ input: Operations.createAnnotationSet.Input) async throws
        -> Operations.createAnnotationSet.Output
    {
        let body: HTTPBody
        switch input.body {
        case .plainText(let b): body = b
        case .text_tab_hyphen_separated_hyphen_values(let b): body = b
        }
        let (repository, ontology, name, known) = try await setTarget(
            input.query.ontology_id, input.query.name, default: "annotations")
        let spool = try SpoolFile()
        for try await chunk in body { try spool.write(chunk) }
        return try await heavily { [spool] compute in
            let checked: AnnotationUpload
            do {
                checked = try await compute { try SpooledAnnotations(spool: spool, known: known).check() }
            } catch let problem as UploadProblem {
                throw TesseraError.unprocessable(problem.description)
            }
            let annotations = try SpooledAnnotations(spool: spool, known: known)
            let record = try await repository.storeAnnotationSet(
                checked, name: name, ontology: ontology, createdBy: Self.currentUserID,
                audit: audit(
                    .annotationSetCreate, org: repository.org, entityType: "annotation_set",
                    metadata: ["ontology_id": Self.id(ontology)])
            ) { try await compute { try annotations.next() } }
            return .created(.init(body: .json(Self.schema(record))))
        }
    }

    /// Parsed chunk by chunk as it arrives, on the heavy-work threads: only the scores are held.
    func createPredictionSet(_ input: Operations.createPredictionSet.Input) async throws
        -> Operations.createPredictionSet.Output
    {
        let body: HTTPBody
        switch input.body {
        case .plainText(let b): body = b
        case .text_tab_hyphen_separated_hyphen_values(let b): body = b
        }
        let (repository, ontology, name, known) = try await setTarget(
            input.query.ontology_id, input.query.name, default: "predictions")
        return try await heavily { compute in
            let reader = ChunkedLines(PredictionUpload(known: { known.contains($0) }))
            let upload: PredictionUpload
            do {
                for try await chunk in body { try await compute { try reader.feed(chunk) } }
                upload = try await compute { try reader.finish() }
            } catch let problem as UploadProblem {
                throw TesseraError.unprocessable(problem.description)
            }
            let record = try await repository.storePredictionSet(
                upload, name: name, ontology: ontology, createdBy: Self.currentUserID,
                audit: audit(
                    .predictionSetCreate, org: repository.org, entityType: "prediction_set",
                    metadata: ["ontology_id": Self.id(ontology)]))
            return .created(.init(body: .json(Self.schema(record))))
        }
    }

    func listAnnotationSets(_ input: Operations.listAnnotationSets.Input) async throws
        -> Operations.listAnnotationSets.Output
    {
        .ok(.init(body: .json(try await termSets(.annotations, input.query.limit, input.query.cursor))))
    }

    func listPredictionSets(_ input: Operations.listPredictionSets.Input) async throws
        -> Operations.listPredictionSets.Output
    {
        .ok(.init(body: .json(try await termSets(.predictions, input.query.limit, input.query.cursor))))
    }

    func getAnnotationSet(_ input: Operations.getAnnotationSet.Input) async throws -> Operations.getAnnotationSet.Output
    {
        guard let set = try await cafa().annotationSet(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such annotation set")
        }
        return .ok(.init(body: .json(Self.schema(set))))
    }

    func getPredictionSet(_ input: Operations.getPredictionSet.Input) async throws -> Operations.getPredictionSet.Output
    {
        guard let set = try await cafa().predictionSet(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such prediction set")
        }
        return .ok(.init(body: .json(Self.schema(set))))
    }

    func createEvaluationSet(_ input: Operations.createEvaluationSet.Input) async throws
        -> Operations.createEvaluationSet.Output
    {
        try await heavily { try await createEvaluationSet(input, compute: $0) }
    }

    func createEvaluationSet(_ input: Operations.createEvaluationSet.Input, compute: HeavyWork.Compute) async throws
        -> Operations.createEvaluationSet.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let repository = try cafa()
        let oldID = try Self.reference(body.old_annotation_set_id, "old_annotation_set_id")
        let newID = try Self.reference(body.new_annotation_set_id, "new_annotation_set_id")
        guard let old = try await repository.annotationSet(oldID) else {
            throw TesseraError.unprocessable("no annotation set \(Self.id(oldID))")
        }
        guard let new = try await repository.annotationSet(newID) else {
            throw TesseraError.unprocessable("no annotation set \(Self.id(newID))")
        }
        guard old.ontologyID == new.ontologyID else {
            throw TesseraError.unprocessable(
                "the two annotation sets name different ontologies; an evaluation set needs one")
        }
        if let made = try await repository.evaluationSet(old: oldID, new: newID) {
            return .ok(.init(body: .json(try Self.schema(made))))
        }
        let ontology = try await repository.evaluationOntology(old.ontologyID)
        let (oldTerms, newTerms) = (try await repository.annotations(oldID), try await repository.annotations(newID))
        let split = try await compute { CAFAEvaluationSplit(old: oldTerms, new: newTerms, ontology: ontology) }
        let (record, created) = try await repository.storeEvaluationSet(
            name: try Self.name(body.name, default: "\(old.name) → \(new.name)"), ontology: old.ontologyID, old: oldID,
            new: newID,
            split: split,
            createdBy: Self.currentUserID,
            audit: audit(.evaluationSetCreate, org: repository.org, entityType: "evaluation_set"))
        let stored = try Self.schema(record)
        return created ? .created(.init(body: .json(stored))) : .ok(.init(body: .json(stored)))
    }

    func listEvaluationSets(_ input: Operations.listEvaluationSets.Input) async throws
        -> Operations.listEvaluationSets.Output
    {
        let limit = try Self.pageLimit(input.query.limit)
        let sets = try await cafa().evaluationSets(
            after: try input.query.cursor.map { try Self.timeCursor($0) }, limit: limit + 1)
        let (page, next) = Self.page(sets, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .ok(.init(body: .json(.init(items: try page.map(Self.schema), next_cursor: next))))
    }

    func getEvaluationSet(_ input: Operations.getEvaluationSet.Input) async throws -> Operations.getEvaluationSet.Output
    {
        guard let set = try await cafa().evaluationSet(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such evaluation set")
        }
        return .ok(.init(body: .json(try Self.schema(set))))
    }

    func createCAFAEvaluation(_ input: Operations.createCAFAEvaluation.Input) async throws
        -> Operations.createCAFAEvaluation.Output
    {
        try await heavily { try await createCAFAEvaluation(input, compute: $0) }
    }

    func createCAFAEvaluation(_ input: Operations.createCAFAEvaluation.Input, compute: HeavyWork.Compute) async throws
        -> Operations.createCAFAEvaluation.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let started = ContinuousClock.now
        let repository = try cafa()
        let request = try Self.cafaRequest(body)
        guard let predictions = try await repository.predictionSet(request.predictionSetID) else {
            throw TesseraError.unprocessable("no prediction set \(Self.id(request.predictionSetID))")
        }
        let truth: [String: [String]]
        let truthOntology: UUID
        if let annotationSetID = request.annotationSetID {
            guard let set = try await repository.annotationSet(annotationSetID) else {
                throw TesseraError.unprocessable("no annotation set \(Self.id(annotationSetID))")
            }
            truthOntology = set.ontologyID
            truth = try await repository.annotations(annotationSetID)
        } else if let evaluationSetID = request.evaluationSetID, let category = request.category {
            guard let set = try await repository.evaluationSet(evaluationSetID) else {
                throw TesseraError.unprocessable("no evaluation set \(Self.id(evaluationSetID))")
            }
            truthOntology = set.ontologyID
            truth = try await repository.evaluationTruth(evaluationSetID, category: category)
        } else {
            throw TesseraError.internalError
        }
        guard truthOntology == predictions.ontologyID else {
            throw TesseraError.unprocessable("the prediction set and the ground truth name different ontologies")
        }
        let prepared = try await prepare(
            try await resolved(
                request, ontology: predictions.ontologyID, useAttached: body.use_ontology_information_accretion ?? true),
            compute: compute)
        let result = try await prepared.evaluate(truth, compute: compute)
        let elapsed = ContinuousClock.now - started
        let seconds = elapsed.inSeconds
        let record = try await repository.storeEvaluation(
            prepared.request, ontology: predictions.ontologyID, result: result, seconds: seconds,
            createdBy: Self.currentUserID,
            audit: audit(
                .cafaEvaluationCreate, org: repository.org, entityType: "cafa_evaluation",
                metadata: ["prediction_set_id": Self.id(request.predictionSetID)]))
        return .created(.init(body: .json(try Self.schema(record, curves: true))))
    }

    func listCAFAEvaluations(_ input: Operations.listCAFAEvaluations.Input) async throws
        -> Operations.listCAFAEvaluations.Output
    {
        let limit = try Self.pageLimit(input.query.limit)
        let records = try await cafa().evaluations(after: try input.query.cursor.map(Self.timeCursor), limit: limit + 1)
        let (page, next) = Self.page(records, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .ok(
            .init(body: .json(.init(items: try page.map { try Self.schema($0, curves: false) }, next_cursor: next))))
    }

    func getCAFAEvaluation(_ input: Operations.getCAFAEvaluation.Input) async throws
        -> Operations.getCAFAEvaluation.Output
    {
        guard let record = try await cafa().evaluation(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such CAFA evaluation")
        }
        return .ok(.init(body: .json(try Self.schema(record, curves: true))))
    }

    /// cafaeval's file for a stored evaluation (`CAFAExport`), named as cafaeval names it.
    func exportCAFAEvaluation(_ input: Operations.exportCAFAEvaluation.Input) async throws
        -> Operations.exportCAFAEvaluation.Output
    {
        let repository = try cafa()
        guard let record = try await repository.evaluation(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such CAFA evaluation")
        }
        let file = CAFAExport.File(rawValue: input.query.file?.rawValue ?? "all") ?? .all
        // cafaeval's `filename` column: the prediction file's path, `/` as `_`; here the prediction set's name.
        let label = try await repository.predictionSet(record.request.predictionSetID)?.name ?? "predictions"
        guard
            let text = CAFAExport.tsv(
                record.result, file: file, label: label.replacingOccurrences(of: "/", with: "_"),
                thresholdStep: record.request.thresholdStep)
        else {
            throw TesseraError.notFound("\(file.fileName) exists for an evaluation with information accretion")
        }
        return .ok(
            .init(
                headers: .init(Content_hyphen_Disposition: "attachment; filename=\"\(file.fileName)\""),
                body: .text_tab_hyphen_separated_hyphen_values(.init(text))))
    }

    // MARK: - Helpers

    /// Where an uploaded set goes: the org's repository, the ontology it names (422 when there is none), its name,
    /// and every term id and alternative id of that ontology.
    func setTarget(_ ontologyID: String, _ name: String?, default fallback: String) async throws -> (
        CAFARepository, UUID, String, Set<String>
    ) {
        let repository = try cafa()
        let ontology = try Self.reference(ontologyID, "ontology_id")
        let name = try Self.name(name, default: fallback)
        guard try await repository.ontology(ontology) != nil else {
            throw TesseraError.unprocessable("no ontology \(Self.id(ontology))")
        }
        return (repository, ontology, name, try await repository.knownTerms(ontology: ontology))
    }

    func termSets(_ kind: TermSetRecord.Kind, _ limit: Int?, _ cursor: String?) async throws
        -> Components.Schemas.TermSetList
    {
        let limit = try Self.pageLimit(limit)
        let records = try await cafa().termSets(kind, after: try cursor.map(Self.timeCursor), limit: limit + 1)
        let (page, next) = Self.page(records, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .init(items: page.map(Self.schema), next_cursor: next)
    }

    /// Reads an uploaded text body line by line as it arrives; a bad line is a 422 naming it.
    static func name(_ raw: String?, default fallback: String) throws -> String {
        let name = (raw ?? fallback).trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.count) else { throw TesseraError.unprocessable("name is 1–200 characters") }
        return name
    }

    /// The request a body makes; `everyCategory` for an evaluation result, which reads its evaluation set in all
    /// three categories (and so takes neither a category nor an annotation set).
    static func cafaRequest(_ body: Components.Schemas.CAFAEvaluationRequest, everyCategory: Bool = false) throws
        -> CAFARequest
    {
        let predictionSet = try reference(body.prediction_set_id, "prediction_set_id")
        let annotationSet = try body.annotation_set_id.map { try reference($0, "annotation_set_id") }
        let evaluationSet = try body.evaluation_set_id.map { try reference($0, "evaluation_set_id") }
        let category = body.category.flatMap { CAFACategory(rawValue: $0.rawValue) }
        switch (annotationSet, evaluationSet, category) {
        case (nil, .some, nil) where everyCategory: break
        case _ where everyCategory:
            throw TesseraError.unprocessable(
                "an evaluation result reads an evaluation set in every category: name evaluation_set_id, and no category or annotation_set_id"
            )
        case (.some, nil, nil), (nil, .some, .some): break
        case (nil, .some, nil): throw TesseraError.unprocessable("an evaluation set needs a category: NK, LK or PK")
        default:
            throw TesseraError.unprocessable(
                "name the ground truth: annotation_set_id, or evaluation_set_id with a category")
        }
        let step = body.threshold_step ?? 0.01
        guard step >= 0.001, step < 1 else {
            throw TesseraError.unprocessable("threshold_step is 0.001 or more and below 1")
        }
        if let ia = body.information_accretion, ia.utf8.count > 64 << 20 {
            throw TesseraError.unprocessable("information_accretion is larger than 64 MiB")
        }
        var termsOfInterest: [String]?
        if let text = body.terms_of_interest {
            guard text.utf8.count <= 16 << 20 else {
                throw TesseraError.unprocessable("terms_of_interest is larger than 16 MiB")
            }
            // As cafaeval-protea reads its -toi file: the first column of each non-empty line.
            let terms = text.split(whereSeparator: \.isNewline).compactMap {
                $0.split(whereSeparator: \.isWhitespace).first.map(String.init)
            }
            guard !terms.isEmpty else { throw TesseraError.unprocessable("terms_of_interest names no term") }
            termsOfInterest = Array(Set(terms)).sorted()
        }
        let known = try body.known_annotation_set_id.map { try reference($0, "known_annotation_set_id") }
        if let maxTerms = body.max_terms, maxTerms < 0 {
            throw TesseraError.unprocessable("max_terms is 0 or more")
        }
        return CAFARequest(
            predictionSetID: predictionSet, annotationSetID: annotationSet, evaluationSetID: evaluationSet,
            category: category,
            thresholdStep: step,
            normalization: CAFANormalization(rawValue: body.normalization?.rawValue ?? "cafa") ?? .cafa,
            includeOrphans: body.include_orphans ?? true,
            propagation: CAFAPropagation(rawValue: body.propagation?.rawValue ?? "max") ?? .max,
            maxTerms: body.max_terms, termsOfInterest: termsOfInterest, knownAnnotationSetID: known,
            informationAccretion: body.information_accretion)
    }

    static func schema(_ o: OntologyRecord) -> Components.Schemas.Ontology {
        .init(
            id: id(o.id), version: o.version, format_version: o.formatVersion, data_version: o.dataVersion,
            terms: o.terms,
            obsolete: o.obsolete,
            edges: o.edges, alt_ids: o.altIDs, namespaces: .init(additionalProperties: o.namespaces),
            created_at: o.createdAt)
    }

    static func schema(_ s: TermSetRecord) -> Components.Schemas.TermSet {
        .init(
            id: id(s.id), ontology_id: id(s.ontologyID), name: s.name, lines: s.lines, entries: s.entries,
            targets: s.targets,
            excluded_not: s.kind == .annotations ? s.excludedNot : nil, unknown_terms: s.unknownTerms,
            created_at: s.createdAt)
    }

    static func schema(_ e: EvaluationSetRecord) throws -> Components.Schemas.EvaluationSet {
        .init(
            id: id(e.id), ontology_id: id(e.ontologyID), name: e.name, old_annotation_set_id: id(e.oldSetID),
            new_annotation_set_id: id(e.newSetID),
            counts: try converted(e.counts), created_at: e.createdAt)
    }

    static func schema(_ r: CAFAEvaluationRecord, curves: Bool) throws -> Components.Schemas.CAFAEvaluation {
        var namespaces: [Components.Schemas.CAFANamespaceResult] = try converted(r.result.namespaces)
        if !curves {
            namespaces = namespaces.map {
                var n = $0
                n.curves = nil
                return n
            }
        }
        let q = r.request
        return .init(
            id: id(r.id), ontology_id: id(r.ontologyID), prediction_set_id: id(q.predictionSetID),
            annotation_set_id: q.annotationSetID.map(id),
            evaluation_set_id: q.evaluationSetID.map(id), category: q.category.flatMap { .init(rawValue: $0.rawValue) },
            threshold_step: q.thresholdStep, normalization: .init(rawValue: q.normalization.rawValue) ?? .cafa,
            include_orphans: q.includeOrphans,
            propagation: .init(rawValue: q.propagation.rawValue) ?? .max,
            terms_of_interest: q.termsOfInterest?.count, max_terms: q.maxTerms,
            known_annotation_set_id: q.knownAnnotationSetID.map(id),
            weighted: q.informationAccretion != nil,
            seconds: r.seconds, namespaces: namespaces,
            created_by: r.createdBy.map(id), created_at: r.createdAt)
    }

    /// A core value as the contract's type of the same JSON shape.
    static func converted<T: Decodable>(_ value: some Encodable) throws -> T {
        try JSONDecoder().decode(T.self, from: try JSONEncoder().encode(value))
    }
}

/// The annotations of a spooled TSV body from its start, a few MiB at a time (called one after another, never at
/// once).
final class SpooledAnnotations: @unchecked Sendable {
    let spool: SpoolFile
    var splitter = LineSplitter()
    var upload: AnnotationUpload
    var ended = false

    init(spool: SpoolFile, known: Set<String>) throws {
        try spool.rewind()
        self.spool = spool
        self.upload = AnnotationUpload(known: { known.contains($0) })
    }

    /// The annotations of the next few MiB of the body; nil once it is all read. A bad line throws.
    func next() throws -> [AnnotationUpload.Annotation]? {
        if ended { return nil }
        let chunk = try spool.read(upTo: SpooledRows.chunkBytes)
        if chunk.isEmpty {
            ended = true
            try splitter.finish { try upload.add($0, number: $1) }
        } else {
            try splitter.feed(ArraySlice(chunk)) { try upload.add($0, number: $1) }
        }
        return upload.drain()
    }

    /// Reads the whole body, keeping only its counts.
    func check() throws -> AnnotationUpload {
        while try next() != nil {}
        return upload
    }
}
