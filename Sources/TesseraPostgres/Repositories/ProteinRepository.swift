import Crypto
import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraEvaluation

public struct QuerySetRecord: Sendable, Equatable {
    public let id: UUID
    public let name: String
    public let entries: Int
    /// Distinct sequences among the entries.
    public let sequences: Int
    /// Sequences and proteins this upload was the first to bring.
    public let newSequences: Int
    public let newProteins: Int
    public let createdAt: Date
}

public struct EmbeddingConfigRecord: Sendable, Equatable {
    public enum Recipe: String, Sendable {
        case kmer, uploaded

        /// Whether the recipe's vectors come from outside — uploaded by a client or answered by a task service —
        /// rather than computed by the gateway itself: the one rule the upload route, the embedding-job route and
        /// the job engine apply.
        public var takesVectors: Bool { self == .uploaded }

        /// Why vectors given for a recipe that computes its own are refused.
        public var refusal: String {
            "a \(rawValue) recipe computes its own vectors; only an uploaded one takes them, from a client or a task"
        }
    }
    public let id: UUID
    public let name: String
    public let recipe: Recipe
    public let k: Int?
    public let dimension: Int
    public let description: String
    public let createdAt: Date
}

/// A protein as the loop reads it: its accession, its sequence's id and residues.
public struct StoredProtein: Sendable, Equatable {
    public let accession: String
    public let sequenceID: UUID
    public let residues: String
}

/// What a transfer reads: the query set's proteins, the annotated reference proteins (targets of the annotation set
/// that are stored proteins) with their annotations, and the vectors already stored for any of their sequences.
public struct TransferInputs: Sendable {
    public let queries: [StoredProtein]
    public let references: [StoredProtein]
    public let annotations: [String: [GOTransfer.Annotation]]
    /// Annotated targets with no stored protein (left out of the references).
    public let targetsWithoutSequence: Int
    public let vectors: [UUID: [Float]]
}

/// How a transfer was made, stored beside the prediction set it made.
public struct KNNTransferRecord: Sendable, Equatable {
    public let predictionSet: TermSetRecord
    public let querySetID: UUID
    public let annotationSetID: UUID
    public let embeddingConfigID: UUID
    public let metric: String
    public let k: Int
    public let maxDistance: Double?
    public let queries: Int
    public let referenceProteins: Int
}

/// One org's proteins, sequences, query sets, embedding recipes and vectors (PROTEA's loop), in its own database.
public struct ProteinRepository: Sendable {
    public let org: UUID
    let databases: TenantDatabases
    let logger: Logger

    public init(org: UUID, databases: TenantDatabases, logger: Logger) {
        self.org = org
        self.databases = databases
        self.logger = logger
    }

    static let querySetColumns = "id, name, entries, sequences, new_sequences, new_proteins, created_at"
    static let configColumns = "id, name, recipe, k, dimension, description, created_at"

    static func sha256(_ residues: String) -> String {
        SHA256.hash(data: Array(residues.utf8)).hexString
    }

    /// Stores a query set from parsed FASTA entries: sequences are found by their SHA-256 (a known one is reused),
    /// proteins by accession. 409 when an accession already names other residues; nothing is written then.
    public func storeQuerySet(_ entries: [FASTAEntry], name: String, createdBy: UUID?, by actor: AuditActor)
        async throws -> QuerySetRecord
    {
        precondition(!entries.isEmpty)
        let hashes = entries.map { Self.sha256($0.residues) }
        var distinct: [String: String] = [:]
        for (entry, hash) in zip(entries, hashes) { distinct[hash] = entry.residues }
        let sequenceHashes = Array(distinct.keys)
        let sequenceResidues = sequenceHashes.map { distinct[$0]! }
        let sequenceLengths = sequenceResidues.map { $0.utf8.count }
        let accessions = entries.map(\.accession)
        let descriptions = entries.map(\.description)
        return try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            let newSequences = try await tx.sql(
                """
                INSERT INTO sequences (sha256, residues, length)
                SELECT * FROM unnest(\(sequenceHashes)::text[], \(sequenceResidues)::text[], \(sequenceLengths)::int[])
                ON CONFLICT (sha256) DO NOTHING RETURNING id
                """, logger: logger
            ).collect().count
            let newProteins = try await tx.sql(
                """
                INSERT INTO proteins (accession, sequence_id, description)
                SELECT a, s.id, d FROM unnest(\(accessions)::text[], \(hashes)::text[], \(descriptions)::text[]) AS u(a, h, d)
                JOIN sequences s ON s.sha256 = u.h
                ON CONFLICT (accession) DO NOTHING RETURNING accession
                """, logger: logger
            ).collect().count
            // An accession stored before (or by a concurrent upload) with other residues.
            if let clash = try await tx.sql(
                """
                SELECT p.accession FROM unnest(\(accessions)::text[], \(hashes)::text[]) AS u(a, h)
                JOIN proteins p ON p.accession = u.a JOIN sequences s ON s.id = p.sequence_id
                WHERE s.sha256 <> u.h ORDER BY p.accession LIMIT 1
                """, logger: logger
            ).collect().first?.decode(String.self) {
                throw TesseraError.conflict(
                    "\(clash) is already stored with other residues: an accession names one sequence")
            }
            let row = try await tx.sql(
                """
                INSERT INTO query_sets (name, entries, sequences, new_sequences, new_proteins, created_by)
                VALUES (\(name), \(entries.count), \(sequenceHashes.count), \(newSequences), \(newProteins), \(createdBy))
                RETURNING \(unescaped: Self.querySetColumns)
                """, logger: logger
            ).collect()[0]
            let record = try Self.querySet(row)
            try await tx.sql(
                """
                INSERT INTO query_set_entries (set_id, position, accession)
                SELECT \(record.id), p - 1, a FROM unnest(\(accessions)::text[]) WITH ORDINALITY AS u(a, p)
                """, logger: logger)
            try await trail.record(
                .querySetCreate, by: actor, entityType: "query_set", entityID: record.id,
                metadata: [
                    "entries": String(record.entries), "new_sequences": String(newSequences),
                    "new_proteins": String(newProteins),
                ])
            return record
        }
    }

    public func querySet(_ id: UUID) async throws -> QuerySetRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT \(unescaped: Self.querySetColumns) FROM query_sets WHERE id = \(id)", logger: logger
            ).collect().first.map(Self.querySet)
        }
    }

    public func querySets(after: (Date, UUID)?, limit: Int) async throws -> [QuerySetRecord] {
        try await databases.page(
            org: org, "SELECT \(Self.querySetColumns) FROM query_sets", after: after, limit: limit, logger: logger,
            Self.querySet)
    }

    /// A query set's proteins in upload order; with `lacking`, only those without a vector under that recipe;
    /// with `limit`, the first so many.
    public func querySetProteins(_ id: UUID, lacking config: UUID? = nil, limit: Int? = nil) async throws
        -> [StoredProtein]
    {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await Self.querySetProteins(id, lacking: config, limit: limit, on: connection, logger: logger)
        }
    }

    static func querySetProteins(
        _ id: UUID, lacking config: UUID? = nil, limit: Int? = nil, on connection: PostgresConnection, logger: Logger
    ) async throws -> [StoredProtein] {
        try await connection.sql(
            """
            SELECT e.accession, s.id, s.residues FROM query_set_entries e
            JOIN proteins p ON p.accession = e.accession JOIN sequences s ON s.id = p.sequence_id
            WHERE e.set_id = \(id) AND (\(config)::uuid IS NULL OR NOT EXISTS (
                SELECT 1 FROM sequence_embeddings v WHERE v.config_id = \(config) AND v.sequence_id = s.id))
            ORDER BY e.position LIMIT \(limit)
            """, logger: logger
        ).collect().map {
            let (accession, sequence, residues) = try $0.decode((String, UUID, String).self)
            return StoredProtein(accession: accession, sequenceID: sequence, residues: residues)
        }
    }

    /// A new recipe; 409 when the org has one of that name.
    public func createEmbeddingConfig(
        name: String, recipe: EmbeddingConfigRecord.Recipe, k: Int?, dimension: Int, description: String,
        createdBy: UUID?, by actor: AuditActor
    ) async throws -> EmbeddingConfigRecord {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            guard
                let row = try await tx.sql(
                    """
                    INSERT INTO embedding_configs (name, recipe, k, dimension, description, created_by)
                    VALUES (\(name), \(recipe.rawValue), \(k), \(dimension), \(description), \(createdBy))
                    ON CONFLICT (name) DO NOTHING RETURNING \(unescaped: Self.configColumns)
                    """, logger: logger
                ).collect().first
            else { throw TesseraError.conflict("an embedding configuration named \(name) exists") }
            let record = try Self.config(row)
            try await trail.record(
                .embeddingConfigCreate, by: actor, entityType: "embedding_config", entityID: record.id,
                metadata: ["name": name, "recipe": recipe.rawValue, "dimension": String(dimension)])
            return record
        }
    }

    public func embeddingConfig(_ id: UUID) async throws -> EmbeddingConfigRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT \(unescaped: Self.configColumns) FROM embedding_configs WHERE id = \(id)", logger: logger
            ).collect().first.map(Self.config)
        }
    }

    public func embeddingConfigs(after: (Date, UUID)?, limit: Int) async throws -> [EmbeddingConfigRecord] {
        try await databases.page(
            org: org, "SELECT \(Self.configColumns) FROM embedding_configs", after: after, limit: limit,
            logger: logger, Self.config)
    }

    /// Stores uploaded vectors by accession (a sequence's earlier vector under the recipe is replaced): 422 naming
    /// the first accession the org has no protein for; nothing is written then.
    public func storeVectors(
        _ vectors: [(accession: String, values: [Float])], config: EmbeddingConfigRecord,
        by actor: AuditActor
    ) async throws -> Int {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            let accessions = vectors.map(\.accession)
            if let missing = try await Self.firstUnknown(accessions, on: tx, logger: logger) {
                throw TesseraError.unprocessable("no protein \(missing): upload it in a query set first")
            }
            let stored = try await Self.insertVectors(vectors, config: config.id, on: tx, logger: logger)
            try await trail.record(
                .embeddingStore, by: actor, entityType: "embedding_config", entityID: config.id,
                metadata: ["vectors": String(vectors.count), "sequences": String(stored)])
            return stored
        }
    }

    /// The first of `accessions` the org has no protein for.
    static func firstUnknown(_ accessions: [String], on tx: PostgresConnection, logger: Logger) async throws
        -> String?
    {
        try await tx.sql(
            """
            SELECT a FROM unnest(\(accessions)::text[]) AS u(a)
            WHERE NOT EXISTS (SELECT 1 FROM proteins p WHERE p.accession = u.a) LIMIT 1
            """, logger: logger
        ).collect().first?.decode(String.self)
    }

    /// Writes vectors under a recipe by their proteins' sequences, replacing earlier ones (the last given wins for
    /// a sequence two accessions share); answers how many sequences.
    static func insertVectors(
        _ vectors: [(accession: String, values: [Float])], config: UUID, on tx: PostgresConnection, logger: Logger
    ) async throws -> Int {
        let blobs = vectors.map { ByteBuffer(bytes: Self.bytes($0.values)) }
        return try await tx.sql(
            """
            INSERT INTO sequence_embeddings (config_id, sequence_id, vector)
            SELECT DISTINCT ON (p.sequence_id) \(config), p.sequence_id, u.v
            FROM unnest(\(vectors.map(\.accession))::text[], \(blobs)::bytea[]) WITH ORDINALITY AS u(a, v, n)
            JOIN proteins p ON p.accession = u.a
            ORDER BY p.sequence_id, u.n DESC
            ON CONFLICT (config_id, sequence_id) DO UPDATE SET vector = excluded.vector, created_at = now()
            RETURNING sequence_id
            """, logger: logger
        ).collect().count
    }

    /// Why a task's answered vectors cannot be stored (no such recipe, one that computes its own, another
    /// dimension, an accession with no protein), or nil: checked before the answer is recorded.
    static func unstorable(_ embeddings: SequenceEmbeddings, on tx: PostgresConnection, logger: Logger) async throws
        -> String?
    {
        let id = embeddings.configID.uuidString.lowercased()
        guard
            let (recipe, dimension) = try await tx.sql(
                "SELECT recipe, dimension FROM embedding_configs WHERE id = \(embeddings.configID)", logger: logger
            ).collect().first?.decode((String, Int).self)
        else { return "sequence_embeddings.embedding_config_id: the org has no embedding configuration \(id)" }
        let kind = EmbeddingConfigRecord.Recipe(rawValue: recipe)
        guard let kind, kind.takesVectors else {
            return
                "sequence_embeddings.embedding_config_id: \(id): \(kind?.refusal ?? "a \(recipe) recipe takes no vectors")"
        }
        if let first = embeddings.vectors.first, first.values.count != dimension {
            return
                "sequence_embeddings.vectors: \(first.values.count) values each; the recipe's dimension is \(dimension)"
        }
        if let missing = try await firstUnknown(embeddings.vectors.map(\.accession), on: tx, logger: logger) {
            return "sequence_embeddings.vectors: no protein \(missing) in the org"
        }
        return nil
    }

    /// The proteins, annotations and stored vectors a transfer from `annotationSet` to `querySet` reads.
    public func transferInputs(querySet: UUID, annotationSet: UUID, config: UUID) async throws -> TransferInputs {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            let queries = try await Self.querySetProteins(querySet, on: connection, logger: logger)
            var annotations: [String: [GOTransfer.Annotation]] = [:]
            let rows = try await connection.sql(
                "SELECT target, term, evidence FROM annotations WHERE set_id = \(annotationSet)", logger: logger)
            for try await (target, term, evidence) in rows.decode((String, String, String?).self) {
                annotations[target, default: []].append(GOTransfer.Annotation(term: term, evidence: evidence))
            }
            let targets = Array(annotations.keys)
            let references = try await connection.sql(
                """
                SELECT p.accession, s.id, s.residues FROM proteins p JOIN sequences s ON s.id = p.sequence_id
                WHERE p.accession = ANY(\(targets)::text[]) ORDER BY p.accession
                """, logger: logger
            ).collect().map {
                let (accession, sequence, residues) = try $0.decode((String, UUID, String).self)
                return StoredProtein(accession: accession, sequenceID: sequence, residues: residues)
            }
            let sequences = Array(Set(queries.map(\.sequenceID) + references.map(\.sequenceID)))
            var vectors: [UUID: [Float]] = [:]
            let stored = try await connection.sql(
                """
                SELECT sequence_id, vector FROM sequence_embeddings
                WHERE config_id = \(config) AND sequence_id = ANY(\(sequences)::uuid[])
                """, logger: logger)
            for try await (sequence, blob) in stored.decode((UUID, ByteBuffer).self) {
                vectors[sequence] = Self.floats(blob)
            }
            return TransferInputs(
                queries: queries, references: references, annotations: annotations,
                targetsWithoutSequence: targets.count - references.count, vectors: vectors)
        }
    }

    /// Stores a transfer's prediction set, the vectors it computed (a recipe computed here), and its provenance,
    /// with one `prediction_set.create` record naming how it was made.
    public func storeTransfer(
        _ upload: PredictionUpload, name: String, ontology: UUID, computed: [UUID: [Float]],
        parameters: KNNTransferParameters, queries: Int, references: Int, createdBy: UUID?, by actor: AuditActor
    ) async throws -> KNNTransferRecord {
        let sequences = Array(computed.keys)
        let blobs = sequences.map { ByteBuffer(bytes: Self.bytes(computed[$0]!)) }
        let weights = String(decoding: try JSONEncoder().encode(parameters.evidenceWeights), as: UTF8.self)
        return try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            try await CAFARepository.holdOntology(ontology, on: tx, logger: logger)
            if !sequences.isEmpty {
                try await tx.sql(
                    """
                    INSERT INTO sequence_embeddings (config_id, sequence_id, vector)
                    SELECT \(parameters.configID), s, v FROM unnest(\(sequences)::uuid[], \(blobs)::bytea[]) AS u(s, v)
                    ON CONFLICT (config_id, sequence_id) DO NOTHING
                    """, logger: logger)
            }
            let set = try await CAFARepository.insertPredictionSet(
                upload, name: name, ontology: ontology, createdBy: createdBy, on: tx, logger: logger)
            try await tx.sql(
                """
                INSERT INTO knn_transfers (prediction_set_id, query_set_id, annotation_set_id, embedding_config_id,
                    metric, k, max_distance, evidence_weights, default_weight, queries, reference_proteins)
                VALUES (\(set.id), \(parameters.querySetID), \(parameters.annotationSetID), \(parameters.configID),
                    \(parameters.metric.rawValue), \(parameters.k), \(parameters.maxDistance), \(weights)::jsonb,
                    \(parameters.defaultWeight), \(queries), \(references))
                """, logger: logger)
            try await trail.record(
                .predictionSetCreate, by: actor, entityType: "prediction_set", entityID: set.id,
                metadata: [
                    "ontology_id": ontology.uuidString.lowercased(), "source": "knn_transfer",
                    "query_set_id": parameters.querySetID.uuidString.lowercased(),
                    "annotation_set_id": parameters.annotationSetID.uuidString.lowercased(),
                    "embedding_config_id": parameters.configID.uuidString.lowercased(),
                ])
            return KNNTransferRecord(
                predictionSet: set, querySetID: parameters.querySetID, annotationSetID: parameters.annotationSetID,
                embeddingConfigID: parameters.configID, metric: parameters.metric.rawValue, k: parameters.k,
                maxDistance: parameters.maxDistance, queries: queries, referenceProteins: references)
        }
    }

    static func bytes(_ values: [Float]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    static func floats(_ blob: ByteBuffer) -> [Float] {
        blob.readableBytesView.withUnsafeBytes { raw in
            (0..<raw.count / 4).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
    }

    static func querySet(_ row: PostgresRow) throws -> QuerySetRecord {
        let (id, name, entries, sequences, newSequences, newProteins, createdAt) = try row.decode(
            (UUID, String, Int, Int, Int, Int, Date).self)
        return QuerySetRecord(
            id: id, name: name, entries: entries, sequences: sequences, newSequences: newSequences,
            newProteins: newProteins, createdAt: createdAt)
    }

    static func config(_ row: PostgresRow) throws -> EmbeddingConfigRecord {
        let (id, name, recipe, k, dimension, description, createdAt) = try row.decode(
            (UUID, String, String, Int?, Int, String, Date).self)
        guard let parsed = EmbeddingConfigRecord.Recipe(rawValue: recipe) else { throw TesseraError.internalError }
        return EmbeddingConfigRecord(
            id: id, name: name, recipe: parsed, k: k, dimension: dimension, description: description,
            createdAt: createdAt)
    }
}

/// A transfer's inputs and parameters, as stored beside its prediction set.
public struct KNNTransferParameters: Sendable, Equatable {
    public let querySetID: UUID
    public let annotationSetID: UUID
    public let configID: UUID
    public let metric: VectorMetric
    public let k: Int
    public let maxDistance: Double?
    public let evidenceWeights: [String: Double]
    public let defaultWeight: Double

    public init(
        querySetID: UUID, annotationSetID: UUID, configID: UUID, metric: VectorMetric, k: Int, maxDistance: Double?,
        evidenceWeights: [String: Double], defaultWeight: Double
    ) {
        (self.querySetID, self.annotationSetID, self.configID) = (querySetID, annotationSetID, configID)
        (self.metric, self.k, self.maxDistance) = (metric, k, maxDistance)
        (self.evidenceWeights, self.defaultWeight) = (evidenceWeights, defaultWeight)
    }
}

/// How a stored prediction set was made by transfer, as `knn_transfers` keeps it.
public struct StoredKNNTransfer: Sendable, Equatable {
    public let predictionSetID: UUID
    public let parameters: KNNTransferParameters
    public let queries: Int
    public let referenceProteins: Int
    public let createdAt: Date
}

extension ProteinRepository {
    /// The provenance of a prediction set made by transfer (nil for one uploaded, or none).
    public func knnTransfer(_ predictionSet: UUID) async throws -> StoredKNNTransfer? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            guard
                let row = try await connection.sql(
                    """
                    SELECT query_set_id, annotation_set_id, embedding_config_id, metric, k, max_distance,
                           evidence_weights::text, default_weight, queries, reference_proteins, created_at
                    FROM knn_transfers WHERE prediction_set_id = \(predictionSet)
                    """, logger: logger
                ).collect().first
            else { return nil }
            let (
                querySet, annotationSet, config, metric, k, maxDistance, weights, defaultWeight, queries, references,
                created
            ) =
                try row.decode((UUID, UUID, UUID, String, Int, Double?, String, Double, Int, Int, Date).self)
            guard let metric = VectorMetric(rawValue: metric) else { throw TesseraError.internalError }
            return StoredKNNTransfer(
                predictionSetID: predictionSet,
                parameters: KNNTransferParameters(
                    querySetID: querySet, annotationSetID: annotationSet, configID: config, metric: metric, k: k,
                    maxDistance: maxDistance,
                    evidenceWeights: try JSONDecoder().decode([String: Double].self, from: Data(weights.utf8)),
                    defaultWeight: defaultWeight),
                queries: queries, referenceProteins: references, createdAt: created)
        }
    }
}
