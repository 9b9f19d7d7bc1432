import Foundation
import Logging
import OpenAPIRuntime
import TesseraCore
import TesseraEvaluation
import TesseraPostgres

/// `/v1/orgs/{org}/query-sets`, `/embedding-configs`, `/knn-transfers`: PROTEA's prediction loop — FASTA in,
/// vectors by a recipe, nearest neighbours among annotated proteins, a prediction set out for the CAFA evaluation.
struct ProteinsController: HeavyController {
    let tenants: TenantDatabases
    let heavy: HeavyWork
    let baseLogger: Logger

    func proteins() throws -> ProteinRepository {
        ProteinRepository(org: try Tenant.required().orgID, databases: tenants, logger: logger)
    }

    /// Received whole (the access chain spooled it within the bulk-body deadline), parsed under a heavy-work slot.
    func createQuerySet(_ input: Operations.createQuerySet.Input) async throws -> Operations.createQuerySet.Output {
        let body: HTTPBody
        switch input.body {
        case .plainText(let b): body = b
        case .text_x_hyphen_fasta(let b): body = b
        }
        let name = try CAFAController.name(input.query.name, default: "query set")
        let repository = try proteins()
        return try await heavily { compute in
            var bytes: [UInt8] = []
            for try await chunk in body { bytes.append(contentsOf: chunk) }
            let entries: [FASTAEntry]
            do {
                entries = try await compute { [bytes] in try FASTA.parse(bytes) }
            } catch let problem as FASTAProblem {
                throw TesseraError.unprocessable(problem.description)
            }
            guard !entries.isEmpty else { throw TesseraError.unprocessable("the file holds no FASTA record") }
            let record = try await repository.storeQuerySet(
                entries, name: name, createdBy: Self.currentUserID, by: auditActor())
            return .created(.init(body: .json(Self.schema(record))))
        }
    }

    func listQuerySets(_ input: Operations.listQuerySets.Input) async throws -> Operations.listQuerySets.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let records = try await proteins().querySets(
            after: try input.query.cursor.map(Self.timeCursor), limit: limit + 1)
        let (page, next) = Self.page(records, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func getQuerySet(_ input: Operations.getQuerySet.Input) async throws -> Operations.getQuerySet.Output {
        let repository = try proteins()
        let id = try Self.objectID(input.path.id)
        guard let record = try await repository.querySet(id) else { throw TesseraError.notFound("no such query set") }
        let members = try await repository.querySetProteins(id)
        return .ok(
            .init(
                body: .json(
                    .init(
                        query_set: Self.schema(record),
                        proteins: members.map {
                            .init(
                                accession: $0.accession, sequence_id: Self.id($0.sequenceID),
                                length: $0.residues.utf8.count)
                        }))))
    }

    func createEmbeddingConfig(_ input: Operations.createEmbeddingConfig.Input) async throws
        -> Operations.createEmbeddingConfig.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let name = try CAFAController.name(body.name, default: "")
        let description = body.description ?? ""
        guard description.count <= 1000 else { throw TesseraError.badRequest("description: at most 1000 characters") }
        let recipe: EmbeddingConfigRecord.Recipe
        let dimension: Int
        switch body.recipe {
        case .kmer:
            guard let k = body.k, let composition = KmerComposition(k: k) else {
                throw TesseraError.badRequest("a kmer recipe needs k, 1 to 3")
            }
            if let given = body.dimension, given != composition.dimension {
                throw TesseraError.badRequest("a kmer recipe with k \(k) has dimension \(composition.dimension)")
            }
            (recipe, dimension) = (.kmer, composition.dimension)
        case .uploaded:
            guard body.k == nil else { throw TesseraError.badRequest("k belongs to a kmer recipe") }
            guard let given = body.dimension, (1...16384).contains(given) else {
                throw TesseraError.badRequest("an uploaded recipe needs its dimension, 1 to 16384")
            }
            (recipe, dimension) = (.uploaded, given)
        }
        let record = try await proteins().createEmbeddingConfig(
            name: name, recipe: recipe, k: body.k, dimension: dimension, description: description,
            createdBy: Self.currentUserID, by: auditActor())
        return .created(.init(body: .json(Self.schema(record))))
    }

    func listEmbeddingConfigs(_ input: Operations.listEmbeddingConfigs.Input) async throws
        -> Operations.listEmbeddingConfigs.Output
    {
        let limit = try Self.pageLimit(input.query.limit)
        let records = try await proteins().embeddingConfigs(
            after: try input.query.cursor.map(Self.timeCursor), limit: limit + 1)
        let (page, next) = Self.page(records, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    func uploadEmbeddingVectors(_ input: Operations.uploadEmbeddingVectors.Input) async throws
        -> Operations.uploadEmbeddingVectors.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let repository = try proteins()
        let config = try await embeddingConfig(repository, try Self.objectID(input.path.id), notFound: true)
        guard config.recipe.takesVectors else { throw TesseraError.unprocessable(config.recipe.refusal) }
        var vectors: [(accession: String, values: [Float])] = []
        vectors.reserveCapacity(body.vectors.count)
        for (index, vector) in body.vectors.enumerated() {
            // A bulk body: the chain's check for NULs in JSON strings does not read it.
            guard (1...200).contains(vector.accession.count),
                !vector.accession.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw TesseraError.unprocessable("vectors[\(index)].accession: 1–200 characters, none a control")
            }
            guard vector.values.count == config.dimension else {
                throw TesseraError.unprocessable(
                    "vectors[\(index)] (\(vector.accession.prefix(200))) has \(vector.values.count) values; the recipe's dimension is \(config.dimension)"
                )
            }
            let values = vector.values.map { Float($0) }
            guard values.allSatisfy(\.isFinite) else {
                throw TesseraError.unprocessable(
                    "vectors[\(index)] (\(vector.accession.prefix(200))) holds a value no float32 holds")
            }
            vectors.append((vector.accession, values))
        }
        let stored = try await heavily { _ in
            try await repository.storeVectors(vectors, config: config, by: auditActor())
        }
        return .ok(.init(body: .json(.init(vectors: vectors.count, sequences: stored))))
    }

    /// The params of a job that computes an `uploaded` recipe's vectors for a query set on a task service
    /// (`createEmbeddingJob`): the recipe, its dimension and the sequences, each accession once, in upload order —
    /// the first `limit` (default 1,000) of them: a client embeds a large set by asking again as jobs complete.
    /// The route needs `jobs.write` as well as `evaluations.write` (its `x-tessera-permission` names both).
    func embeddingJobParams(_ input: Operations.createEmbeddingJob.Input) async throws -> (
        version: UUID, params: String, priority: Int
    ) {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let repository = try proteins()
        let config = try await embeddingConfig(repository, try Self.objectID(input.path.id), notFound: true)
        guard config.recipe.takesVectors else { throw TesseraError.unprocessable(config.recipe.refusal) }
        let querySet = try Self.reference(body.query_set_id, "query_set_id")
        let version = try Self.reference(body.pipeline_version_id, "pipeline_version_id")
        guard try await repository.querySet(querySet) != nil else {
            throw TesseraError.unprocessable("no query set \(Self.id(querySet))")
        }
        let limit = body.limit ?? 1000
        guard (1...10_000).contains(limit) else { throw TesseraError.badRequest("limit is 1–10,000 proteins") }
        let proteins = try await repository.querySetProteins(
            querySet, lacking: body.missing_only == false ? nil : config.id, limit: limit)
        guard !proteins.isEmpty else {
            throw TesseraError.unprocessable("every protein of the query set has a vector under \(config.name)")
        }
        let params = EmbeddingJobParams(
            embedding_config_id: Self.id(config.id), dimension: config.dimension,
            sequences: proteins.map { .init(accession: $0.accession, sequence: $0.residues) })
        return (version, try Self.jsonText(params), body.priority ?? 0)
    }

    /// What an embedding job hands its task service.
    struct EmbeddingJobParams: Encodable {
        struct Sequence: Encodable { let accession, sequence: String }
        let embedding_config_id: String
        let dimension: Int
        let sequences: [Sequence]
    }

    func createKNNTransfer(_ input: Operations.createKNNTransfer.Input) async throws
        -> Operations.createKNNTransfer.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let parameters = try Self.parameters(body)
        let name = try CAFAController.name(body.name, default: "knn transfer")
        let repository = try proteins()
        let cafa = try cafa()
        guard try await repository.querySet(parameters.querySetID) != nil else {
            throw TesseraError.unprocessable("no query set \(Self.id(parameters.querySetID))")
        }
        guard let annotations = try await cafa.annotationSet(parameters.annotationSetID) else {
            throw TesseraError.unprocessable("no annotation set \(Self.id(parameters.annotationSetID))")
        }
        let config = try await embeddingConfig(repository, parameters.configID, notFound: false)
        return try await heavily { compute in
            let inputs = try await repository.transferInputs(
                querySet: parameters.querySetID, annotationSet: parameters.annotationSetID, config: config.id)
            guard !inputs.references.isEmpty else {
                throw TesseraError.unprocessable(
                    "no target of the annotation set is a stored protein: upload the references' sequences in a query set first"
                )
            }
            let known = try await cafa.knownTerms(ontology: annotations.ontologyID)
            let made = try await compute { try Self.transfer(inputs, config: config, parameters: parameters) }
            var upload = PredictionUpload(known: { known.contains($0) })
            var predicted = 0
            for (query, scores) in made.scores {
                let terms = scores.filter { known.contains($0.term) }
                if !terms.isEmpty { predicted += 1 }
                for (term, score) in terms { upload.add(target: query, term: term, score: score) }
            }
            let record = try await repository.storeTransfer(
                upload, name: name, ontology: annotations.ontologyID, computed: made.computed, parameters: parameters,
                queries: inputs.queries.count, references: inputs.references.count, createdBy: Self.currentUserID,
                by: auditActor())
            return .created(
                .init(
                    body: .json(
                        .init(
                            prediction_set: CAFAController.schema(record.predictionSet),
                            query_set_id: Self.id(record.querySetID),
                            annotation_set_id: Self.id(record.annotationSetID),
                            embedding_config_id: Self.id(record.embeddingConfigID), metric: record.metric, k: record.k,
                            max_distance: record.maxDistance, queries: record.queries,
                            reference_proteins: record.referenceProteins, queries_with_predictions: predicted,
                            vectors_computed: made.computed.count,
                            annotated_targets_without_sequence: inputs.targetsWithoutSequence))))
        }
    }

    func getKNNTransfer(_ input: Operations.getKNNTransfer.Input) async throws -> Operations.getKNNTransfer.Output {
        guard let stored = try await proteins().knnTransfer(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no prediction set made by transfer with this id")
        }
        let p = stored.parameters
        return .ok(
            .init(
                body: .json(
                    .init(
                        prediction_set_id: Self.id(stored.predictionSetID), query_set_id: Self.id(p.querySetID),
                        annotation_set_id: Self.id(p.annotationSetID), embedding_config_id: Self.id(p.configID),
                        metric: .init(rawValue: p.metric.rawValue) ?? .cosine, k: p.k, max_distance: p.maxDistance,
                        evidence_weights: .init(additionalProperties: p.evidenceWeights),
                        default_weight: p.defaultWeight, queries: stored.queries,
                        reference_proteins: stored.referenceProteins, created_at: stored.createdAt))))
    }

    // MARK: - Helpers

    func embeddingConfig(_ repository: ProteinRepository, _ id: UUID, notFound: Bool) async throws
        -> EmbeddingConfigRecord
    {
        guard let config = try await repository.embeddingConfig(id) else {
            if notFound { throw TesseraError.notFound("no such embedding configuration") }
            throw TesseraError.unprocessable("no embedding configuration \(Self.id(id))")
        }
        return config
    }

    static func parameters(_ body: Components.Schemas.KNNTransferRequest) throws -> KNNTransferParameters {
        let k = body.k ?? 5
        guard (1...1000).contains(k) else { throw TesseraError.badRequest("k is 1–1000") }
        if let maxDistance = body.max_distance, !(maxDistance >= 0 && maxDistance.isFinite) {
            throw TesseraError.badRequest("max_distance is a number ≥ 0")
        }
        let weights = body.evidence_weights?.additionalProperties ?? [:]
        let defaultWeight = body.default_weight ?? 1
        for (code, weight) in weights where !(0...1).contains(weight) || code.isEmpty || code.count > 20 {
            throw TesseraError.badRequest("evidence_weights: a code of 1–20 characters → a weight in [0, 1]")
        }
        guard (0...1).contains(defaultWeight) else { throw TesseraError.badRequest("default_weight is in [0, 1]") }
        return KNNTransferParameters(
            querySetID: try reference(body.query_set_id, "query_set_id"),
            annotationSetID: try reference(body.annotation_set_id, "annotation_set_id"),
            configID: try reference(body.embedding_config_id, "embedding_config_id"),
            metric: VectorMetric(rawValue: body.metric?.rawValue ?? "cosine") ?? .cosine, k: k,
            maxDistance: body.max_distance, evidenceWeights: weights, defaultWeight: defaultWeight)
    }

    /// The transfer's computing part: vectors (a kmer recipe's missing ones computed), the exact search, the votes.
    static func transfer(_ inputs: TransferInputs, config: EmbeddingConfigRecord, parameters: KNNTransferParameters)
        throws -> (scores: [(String, [(term: String, score: Double)])], computed: [UUID: [Float]])
    {
        var vectors = inputs.vectors
        var computed: [UUID: [Float]] = [:]
        let composition = config.k.flatMap(KmerComposition.init(k:))
        func vector(_ protein: StoredProtein) throws -> [Float] {
            if let stored = vectors[protein.sequenceID], stored.count == config.dimension { return stored }
            guard let composition else {
                throw TesseraError.unprocessable(
                    "\(protein.accession) has no vector under \(config.name): upload one to …/vectors first")
            }
            let made = composition.vector(protein.residues.utf8)
            vectors[protein.sequenceID] = made
            computed[protein.sequenceID] = made
            return made
        }
        var references = VectorRows(dimension: config.dimension, capacity: inputs.references.count)
        for protein in inputs.references { references.append(try vector(protein)) }
        var queries = VectorRows(dimension: config.dimension, capacity: inputs.queries.count)
        for protein in inputs.queries { queries.append(try vector(protein)) }
        let search = ExactNeighbourSearch(references: references, metric: parameters.metric)
        let found = search.search(
            queries, k: parameters.k, maxDistance: parameters.maxDistance.map { Float($0) }, threads: 1)
        let transfer = GOTransfer(evidenceWeights: parameters.evidenceWeights, defaultWeight: parameters.defaultWeight)
        var scores: [(String, [(term: String, score: Double)])] = []
        var seen = Set<String>()
        for (protein, neighbours) in zip(inputs.queries, found) where seen.insert(protein.accession).inserted {
            let votes = neighbours.map { n in
                GOTransfer.Vote(
                    similarity: parameters.metric.similarity(n.distance),
                    annotations: inputs.annotations[inputs.references[n.row].accession] ?? [])
            }
            scores.append((protein.accession, transfer.scores(votes)))
        }
        return (scores, computed)
    }

    static func schema(_ q: QuerySetRecord) -> Components.Schemas.QuerySet {
        .init(
            id: id(q.id), name: q.name, entries: q.entries, sequences: q.sequences, new_sequences: q.newSequences,
            new_proteins: q.newProteins, created_at: q.createdAt)
    }

    static func schema(_ c: EmbeddingConfigRecord) -> Components.Schemas.EmbeddingConfig {
        .init(
            id: id(c.id), name: c.name, recipe: c.recipe == .kmer ? .kmer : .uploaded, k: c.k, dimension: c.dimension,
            description: c.description, created_at: c.createdAt)
    }
}
