import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraEvaluation
@testable import TesseraGateway

/// PROTEA's loop through the API: FASTA → vectors (the built-in k-mer recipe, and uploaded ones) → exact nearest
/// neighbours among annotated proteins → a prediction set → the CAFA evaluation of it.
@Suite struct ProteinLoopTests {
    static let logger = TestDatabase.logger

    struct Created: Decodable { let id: String }
    struct QuerySet: Decodable {
        let id: String
        let entries, sequences, new_sequences, new_proteins: Int
    }
    struct Detail: Decodable {
        struct Protein: Decodable { let accession, sequence_id: String }
        let proteins: [Protein]
    }
    struct Transfer: Decodable {
        struct Set: Decodable {
            let id: String
            let targets, entries: Int
        }
        let prediction_set: Set
        let queries, reference_proteins, queries_with_predictions, vectors_computed: Int
        let annotated_targets_without_sequence: Int
    }
    struct Evaluation: Decodable {
        struct Namespace: Decodable {
            struct Best: Decodable {
                struct F: Decodable { let value: Double }
                let f: F?
            }
            let namespace: String
            let targets, predicted_targets: Int
            let best: Best
        }
        let namespaces: [Namespace]
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try decodeSuccess(type, response)
    }

    /// F:1 the root; F:2 and F:3 under it; F:4 under F:2.
    static let obo = """
        format-version: 1.2
        data-version: loop/2026-12-01

        [Term]
        id: F:1
        name: root
        namespace: molecular_function

        [Term]
        id: F:2
        name: binding
        namespace: molecular_function
        is_a: F:1

        [Term]
        id: F:3
        name: transport
        namespace: molecular_function
        is_a: F:1

        [Term]
        id: F:4
        name: ion binding
        namespace: molecular_function
        is_a: F:2
        """

    // Two families of very different composition: A (charged, K/E/R rich) and B (G/P/S rich, with a tail of
    // A's 2-mers KK, KL, LL, so that the families are not orthogonal).
    static let a1 = "MKKLLEERRKKEEALKRLEEKKRA"
    static let a2 = "MKKLLEERRKKEEALKRLEEKKRAEEK"
    static let b1 = "GGPSGSPGGSSPGPGSGGPSWGGSKKLL"
    static let references = """
        >R1 family A
        \(a1)
        >R2 family A, electronic annotation only
        \(a2)
        >R3 family B
        \(b1)
        """

    @Test func fastaToVectorsToNeighboursToAnEvaluatedPredictionSet() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("protein-loop")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let ontology = try await calls.create("/ontologies", Self.obo, contentType: "text/plain")

                // References, then queries: Q3 has R1's residues (one sequence, two accessions).
                let refs = try Self.decode(
                    QuerySet.self,
                    try await calls.post("/query-sets?name=refs", Self.references, contentType: "text/x-fasta"))
                #expect(refs.entries == 3 && refs.sequences == 3 && refs.new_sequences == 3 && refs.new_proteins == 3)
                let queryFASTA = """
                    >Q1 like family A
                    MKKLLEERRKKEEALKRLEEKKRAK
                    >Q2 like family B
                    GGPSGSPGGSSPGPGSGGPSWGG
                    >Q3 R1's sequence
                    \(Self.a1)
                    """
                let queries = try Self.decode(
                    QuerySet.self,
                    try await calls.post("/query-sets?name=queries", queryFASTA, contentType: "text/plain"))
                #expect(
                    queries.entries == 3 && queries.sequences == 3 && queries.new_sequences == 2
                        && queries.new_proteins == 3)
                let detail = try Self.decode(Detail.self, try await calls.get("/query-sets/\(queries.id)"))
                let refDetail = try Self.decode(Detail.self, try await calls.get("/query-sets/\(refs.id)"))
                #expect(detail.proteins.map(\.accession) == ["Q1", "Q2", "Q3"])
                #expect(detail.proteins[2].sequence_id == refDetail.proteins[0].sequence_id)

                // An accession already stored with other residues: 409, nothing written; bad FASTA: 422.
                let clash = try await calls.post("/query-sets", ">R1\nMKKK\n>Q9\nMAAA\n", contentType: "text/x-fasta")
                #expect(clash.status == .conflict, "\(String(buffer: clash.body))")
                let bad = try await calls.post("/query-sets", ">Q9\nMK1\n", contentType: "text/x-fasta")
                #expect(bad.status == .unprocessableContent && String(buffer: bad.body).contains("line 2"))
                struct List: Decodable { let items: [Created] }
                #expect(
                    try Self.decode(List.self, try await calls.get("/query-sets")).items.map(\.id) == [
                        refs.id, queries.id,
                    ])

                // Annotations of the references (and of a target with no sequence), then the truth of the queries.
                let annotations = try await calls.create(
                    "/annotation-sets?ontology_id=\(ontology)&name=refs",
                    "R1\tF:4\tIDA\nR2\tF:4\tIEA\nR3\tF:3\tIDA\nNOSEQ\tF:3\tIDA\n",
                    contentType: "text/tab-separated-values")
                let truth = try await calls.create(
                    "/annotation-sets?ontology_id=\(ontology)&name=truth", "Q1\tF:4\nQ2\tF:3\nQ3\tF:4\n",
                    contentType: "text/tab-separated-values")

                // The built-in recipe; a wrong k or a kmer recipe's dimension that is not 20^k: 400.
                let kmer = try await calls.create("/embedding-configs", #"{"name":"kmer-2","recipe":"kmer","k":2}"#)
                #expect(
                    try await calls.post("/embedding-configs", #"{"name":"x","recipe":"kmer","k":4}"#).status
                        == .badRequest)
                #expect(
                    try await calls.post(
                        "/embedding-configs", #"{"name":"y","recipe":"kmer","k":1,"dimension":21}"#
                    ).status == .badRequest)
                #expect(
                    try await calls.post("/embedding-configs", #"{"name":"kmer-2","recipe":"kmer","k":1}"#).status
                        == .conflict)

                // k = 1: each query takes its nearest reference's terms with that reference's similarity.
                let first = try Self.decode(
                    Transfer.self,
                    try await calls.post(
                        "/knn-transfers",
                        #"{"query_set_id":"\#(queries.id)","annotation_set_id":"\#(annotations)","embedding_config_id":"\#(kmer)","k":1}"#
                    ))
                #expect(
                    first.queries == 3 && first.reference_proteins == 3 && first.queries_with_predictions == 3
                        && first.vectors_computed == 5 && first.annotated_targets_without_sequence == 1)
                #expect(first.prediction_set.targets == 3 && first.prediction_set.entries == 3)
                let evaluation = try Self.decode(
                    Evaluation.self,
                    try await calls.post(
                        "/cafa-evaluations",
                        #"{"prediction_set_id":"\#(first.prediction_set.id)","annotation_set_id":"\#(truth)"}"#))
                let mf = try #require(evaluation.namespaces.first { $0.namespace == "molecular_function" })
                #expect(mf.targets == 3 && mf.predicted_targets == 3 && mf.best.f?.value == 1)

                // Its provenance, readable; an uploaded set has none.
                struct Provenance: Decodable {
                    let query_set_id, annotation_set_id, embedding_config_id, metric: String
                    let k, queries, reference_proteins: Int
                    let evidence_weights: [String: Double]
                }
                let provenance = try Self.decode(
                    Provenance.self, try await calls.get("/knn-transfers/\(first.prediction_set.id)"))
                #expect(
                    provenance.query_set_id == queries.id && provenance.annotation_set_id == annotations
                        && provenance.embedding_config_id == kmer && provenance.metric == "cosine" && provenance.k == 1
                        && provenance.queries == 3 && provenance.reference_proteins == 3
                        && provenance.evidence_weights.isEmpty)
                #expect(try await calls.get("/knn-transfers/\(annotations)").status == .notFound)

                // Scores as voted: Q3 is R1 itself (similarity 1, IDA) → F:4 at 1; with IEA weighing 0.5 and k = 3,
                // Q3's F:4 = (1·1 + s2·0.5) / (1 + s2 + s3) for its other neighbours' similarities.
                let weighted = try Self.decode(
                    Transfer.self,
                    try await calls.post(
                        "/knn-transfers",
                        #"{"name":"weighted","query_set_id":"\#(queries.id)","annotation_set_id":"\#(annotations)","embedding_config_id":"\#(kmer)","k":3,"evidence_weights":{"IEA":0.5}}"#
                    ))
                // Q1 and Q3 get F:4 and F:3; Q2 shares no 2-mer with family A (similarity 0, no vote): F:3 alone.
                #expect(weighted.vectors_computed == 0 && weighted.prediction_set.entries == 5)
                #expect(
                    try Self.decode(
                        Provenance.self, try await calls.get("/knn-transfers/\(weighted.prediction_set.id)")
                    ).evidence_weights == ["IEA": 0.5])
                let scores = try await Self.scores(env, org, weighted.prediction_set.id)
                let composition = try #require(KmerComposition(k: 2))
                func cosine(_ x: String, _ y: String) -> Double {
                    zip(composition.vector(Array(x.utf8)), composition.vector(Array(y.utf8))).reduce(0) {
                        $0 + Double($1.0) * Double($1.1)
                    }
                }
                let (s2, s3) = (cosine(Self.a1, Self.a2), cosine(Self.a1, Self.b1))
                let expected = (1 + s2 * 0.5) / (1 + s2 + s3)
                #expect(s3 > 0 && s2 > s3)
                #expect(abs((scores["Q3"]?["F:4"] ?? 0) - expected) < 1e-6, "\(scores)")
                #expect(abs((scores["Q3"]?["F:3"] ?? 0) - s3 / (1 + s2 + s3)) < 1e-6)

                // Vectors made elsewhere: checked against the dimension and the org's proteins, all or nothing.
                let uploaded = try await calls.create(
                    "/embedding-configs", #"{"name":"esm-ish","recipe":"uploaded","dimension":3}"#)
                func vectors(_ pairs: [(String, [Double])]) -> String {
                    let items = pairs.map { #"{"accession":"\#($0.0)","values":\#($0.1)}"# }
                    return #"{"vectors":[\#(items.joined(separator: ","))]}"#
                }
                #expect(
                    try await calls.post("/embedding-configs/\(uploaded)/vectors", vectors([("R1", [1, 0])])).status
                        == .unprocessableContent)
                #expect(
                    try await calls.post("/embedding-configs/\(uploaded)/vectors", vectors([("NOPE", [1, 0, 0])]))
                        .status == .unprocessableContent)
                #expect(
                    try await calls.post("/embedding-configs/\(kmer)/vectors", vectors([("R1", [1, 0, 0])])).status
                        == .unprocessableContent)
                // Missing vectors: the transfer names the protein.
                let missing = try await calls.post(
                    "/knn-transfers",
                    #"{"query_set_id":"\#(queries.id)","annotation_set_id":"\#(annotations)","embedding_config_id":"\#(uploaded)"}"#
                )
                #expect(missing.status == .unprocessableContent && String(buffer: missing.body).contains("no vector"))
                let stored = try await calls.post(
                    "/embedding-configs/\(uploaded)/vectors",
                    vectors([
                        ("R1", [1, 0, 0]), ("R2", [0.9, 0.1, 0]), ("R3", [0, 0, 1]), ("Q1", [0.95, 0.05, 0]),
                        ("Q2", [0, 0.2, 1]), ("Q3", [5, 5, 5]),
                    ]))
                struct Stored: Decodable { let vectors, sequences: Int }
                // Q3 and R1 share a sequence: the later vector of the two is the one kept.
                #expect(try Self.decode(Stored.self, stored).sequences == 5)
                // L2 with a cut-off: Q3 ([5,5,5], also R1's vector now) is its own nearest at 0; Q2 has no
                // reference within 0.5 (R3 at ~0.2 is within: it keeps F:3); Q1 is 0.07 from R1 and R2.
                let l2 = try Self.decode(
                    Transfer.self,
                    try await calls.post(
                        "/knn-transfers",
                        #"{"query_set_id":"\#(queries.id)","annotation_set_id":"\#(annotations)","embedding_config_id":"\#(uploaded)","metric":"l2","k":2,"max_distance":0.5}"#
                    ))
                #expect(l2.vectors_computed == 0 && l2.queries_with_predictions == 3)
                let l2Scores = try await Self.scores(env, org, l2.prediction_set.id)
                #expect(l2Scores["Q3"] == ["F:4": 1], "\(l2Scores)")
                #expect(l2Scores["Q2"] == ["F:3": 1])
                let far = try Self.decode(
                    Transfer.self,
                    try await calls.post(
                        "/knn-transfers",
                        #"{"query_set_id":"\#(queries.id)","annotation_set_id":"\#(annotations)","embedding_config_id":"\#(uploaded)","metric":"l2","k":2,"max_distance":0.01}"#
                    ))
                #expect(far.queries_with_predictions == 1)  // only Q3, at distance 0

                // Every change recorded in the org's outbox, with the transfer's provenance.
                let actions = try await env.outboxActions(org)
                #expect(actions.filter { $0 == "query_set.create" }.count == 2)
                #expect(actions.filter { $0 == "embedding_config.create" }.count == 2)
                #expect(actions.filter { $0 == "embedding.store" }.count == 1)
                #expect(actions.filter { $0 == "prediction_set.create" }.count == 4)
            }
        }
    }

    /// A task service's operation `/embed`, answering any object (the answer's `sequence_embeddings` is Tessera's).
    static let embedSpec = #"""
        {"openapi":"3.1.0","info":{"title":"embedder","version":"1"},
         "paths":{"/embed":{"post":{"operationId":"embed","responses":{"200":{"description":"ok"}}}}}}
        """#

    /// Vectors computed by a task service through the job engine (`provisioning/task-test-service`'s `/embed`: the
    /// amino-acid composition, which is the built-in recipe with k 1): the job gets the sequences without a vector,
    /// the engine stores what the service answers, and a transfer on those vectors equals one on the built-in
    /// recipe's. A wrong answer (another dimension, an unknown protein) fails its execution with nothing stored.
    @Test func vectorsComputedByATaskServiceThroughTheJobEngine() async throws {
        try await ScriptServer.with("task-test-service", []) { port in
            try await JobEngineTests.withGateway { env, calls in
                try await JobEngineTests.definition(
                    calls, "embed", config: #"{"operation":"embed","timeout_seconds":30}"#,
                    service: "http://127.0.0.1:\(port)", spec: Self.embedSpec)
                let version = try await JobEngineTests.pipeline(calls, "embed-proteins", [("embed", "embed", [])])
                let ontology = try await calls.create("/ontologies", Self.obo, contentType: "text/plain")
                let refs = try Self.decode(
                    QuerySet.self,
                    try await calls.post("/query-sets?name=refs", Self.references, contentType: "text/x-fasta"))
                let queries = try Self.decode(
                    QuerySet.self,
                    try await calls.post(
                        "/query-sets?name=queries",
                        ">Q1\nMKKLLEERRKKEEALKRLEEKKRAK\n>Q2\nGGPSGSPGGSSPGPGSGGPSWGG\n>Q3\n\(Self.a1)\n",
                        contentType: "text/x-fasta"))
                let annotations = try await calls.create(
                    "/annotation-sets?ontology_id=\(ontology)&name=refs",
                    "R1\tF:4\tIDA\nR2\tF:4\tIEA\nR3\tF:3\tIDA\n",
                    contentType: "text/tab-separated-values")
                let kmer = try await calls.create("/embedding-configs", #"{"name":"kmer-1","recipe":"kmer","k":1}"#)
                let served = try await calls.create(
                    "/embedding-configs", #"{"name":"served","recipe":"uploaded","dimension":20}"#)

                struct Job: Decodable {
                    struct Params: Decodable {
                        struct Sequence: Decodable { let accession, sequence: String }
                        let embedding_config_id: String
                        let dimension: Int
                        let sequences: [Sequence]
                    }
                    let id: String
                    let params: Params
                }
                func embed(_ querySet: String, _ extra: String = "") async throws -> Job {
                    let job = try Self.decode(
                        Job.self,
                        try await calls.post(
                            "/embedding-configs/\(served)/jobs",
                            #"{"query_set_id":"\#(querySet)","pipeline_version_id":"\#(version)"\#(extra)}"#))
                    let done = try await JobEngineTests.finished(calls, job.id)
                    #expect(done.status == "COMPLETED", "\(done)")
                    return job
                }
                // Two at a time: the first two, then the one left.
                let first = try await embed(refs.id, #","limit":2"#)
                #expect(first.params.embedding_config_id == served && first.params.dimension == 20)
                #expect(first.params.sequences.map(\.accession) == ["R1", "R2"])
                #expect(first.params.sequences[0].sequence == Self.a1)
                #expect(try await embed(refs.id, #","limit":2"#).params.sequences.map(\.accession) == ["R3"])
                let tooMany = try await calls.post(
                    "/embedding-configs/\(served)/jobs",
                    #"{"query_set_id":"\#(refs.id)","pipeline_version_id":"\#(version)","limit":10001}"#)
                #expect(tooMany.status == .badRequest)
                // Q3 has R1's sequence, which has its vector now: only Q1 and Q2 go to the service.
                #expect(try await embed(queries.id).params.sequences.map(\.accession) == ["Q1", "Q2"])
                let none = try await calls.post(
                    "/embedding-configs/\(served)/jobs",
                    #"{"query_set_id":"\#(queries.id)","pipeline_version_id":"\#(version)"}"#)
                #expect(none.status == .unprocessableContent && String(buffer: none.body).contains("every protein"))
                let builtIn = try await calls.post(
                    "/embedding-configs/\(kmer)/jobs",
                    #"{"query_set_id":"\#(queries.id)","pipeline_version_id":"\#(version)"}"#)
                #expect(
                    builtIn.status == .unprocessableContent
                        && String(buffer: builtIn.body).contains("a kmer recipe computes its own vectors"))

                // The same transfer on the service's vectors and on the built-in recipe's.
                func transfer(_ config: String) async throws -> String {
                    try Self.decode(
                        Transfer.self,
                        try await calls.post(
                            "/knn-transfers",
                            #"{"query_set_id":"\#(queries.id)","annotation_set_id":"\#(annotations)","embedding_config_id":"\#(config)","k":2}"#
                        )
                    ).prediction_set.id
                }
                let viaService = try await Self.scores(env, calls.org, try await transfer(served))
                let viaRecipe = try await Self.scores(env, calls.org, try await transfer(kmer))
                #expect(Set(viaService.keys) == ["Q1", "Q2", "Q3"] && Set(viaService.keys) == Set(viaRecipe.keys))
                for (target, terms) in viaRecipe {
                    #expect(Set(viaService[target]?.keys ?? [:].keys) == Set(terms.keys), "\(target)")
                    for (term, score) in terms {
                        #expect(abs((viaService[target]?[term] ?? -1) - score) < 1e-5, "\(target) \(term)")
                    }
                }

                // Wrong answers fail the execution and store nothing: another dimension; a protein the org lacks;
                // vectors for a recipe that computes its own.
                for (params, reason) in [
                    (
                        #"{"embedding_config_id":"\#(served)","dimension":5,"sequences":[{"accession":"Q1","sequence":"MK"}]}"#,
                        "the recipe's dimension is 20"
                    ),
                    (
                        #"{"embedding_config_id":"\#(served)","dimension":20,"sequences":[{"accession":"NOPE","sequence":"MK"}]}"#,
                        "no protein NOPE"
                    ),
                    (
                        #"{"embedding_config_id":"\#(kmer)","dimension":20,"sequences":[{"accession":"Q1","sequence":"MK"}]}"#,
                        "a kmer recipe computes its own vectors"
                    ),
                ] {
                    let job = try Self.decode(
                        Created.self,
                        try await calls.post("/jobs", #"{"pipeline_version_id":"\#(version)","params":\#(params)}"#))
                    let done = try await JobEngineTests.finished(calls, job.id)
                    let executions = try await JobEngineTests.executions(calls, job.id)
                    #expect(done.status == "FAILED", "\(done)")
                    #expect(executions.first?.error?.contains(reason) == true, "\(executions)")
                }
                let actions = try await env.outboxActions(calls.org)
                #expect(actions.filter { $0 == "embedding.store" }.count == 3)

                // Starting such a job needs jobs.write besides evaluations.write: the route names both, and the
                // chain refuses the one missing.
                _ = try await calls.post("/roles", #"{"name":"embedder","permissions":["evaluations.write"]}"#)
                struct Issued: Decodable { let key: String }
                let issued = try Self.decode(
                    Issued.self, try await calls.post("/api-keys", #"{"name":"e","role":"embedder"}"#))
                let limited = OrgCalls(
                    client: calls.client, org: calls.org, key: try #require(APIKey.parse(issued.key)))
                let refused = try await limited.post(
                    "/embedding-configs/\(served)/jobs",
                    #"{"query_set_id":"\#(refs.id)","pipeline_version_id":"\#(version)","missing_only":false}"#)
                #expect(
                    refused.status == .forbidden && String(buffer: refused.body).contains("needs the jobs.write"),
                    "\(String(buffer: refused.body))")
            }
        }
    }

    /// A stored prediction set's scores, target → term → score.
    static func scores(_ env: TenantEnv, _ org: UUID, _ set: String) async throws -> [String: [String: Double]] {
        let (placement, server, password) = try await env.placement(org)
        return try await server.withOrgConnection(placement.name, password: password, logger: Self.logger) {
            connection in
            var scores: [String: [String: Double]] = [:]
            let rows = try await connection.query(
                "SELECT target, terms, scores FROM prediction_scores WHERE set_id = \(UUID(uuidString: set)!)",
                logger: Self.logger)
            for try await (target, terms, values) in rows.decode((String, [String], [Double]).self) {
                scores[target] = Dictionary(uniqueKeysWithValues: zip(terms, values))
            }
            return scores
        }
    }
}
