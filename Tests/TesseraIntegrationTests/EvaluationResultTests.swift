import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// PROTEA's evaluation shape through the API: an information-accretion file attached to the ontology and used by
/// default, one result covering NK, LK and PK (each equal to the category evaluated alone), and the benchmark matrix
/// reading kept results instead of computing them again.
@Suite struct EvaluationResultTests {
    static let logger = TestDatabase.logger

    struct Created: Decodable { let id: String }
    struct Evaluation: Decodable, Equatable {
        struct Namespace: Decodable, Equatable {
            struct Best: Decodable, Equatable {
                struct Value: Decodable, Equatable { let value: Double }
                let f: Value?
                let s: Value?
                let f_w: Value?
            }
            let namespace: String
            let targets, predicted_targets: Int
            let best: Best
        }
        let id: String
        let weighted: Bool
        let category: String?
        let namespaces: [Namespace]
    }
    struct Result: Decodable {
        let id: String
        let cached: Bool
        let categories: [String: Evaluation]
    }
    struct Matrix: Decodable {
        struct Cell: Decodable {
            struct Score: Decodable {
                let namespace: String
                let f_max, s_min, f_max_w: Double?
            }
            let prediction_set_id, evaluation_set_id, evaluation_result_id: String
            let cached: Bool
            let categories: [String: [Score]]
        }
        let cells: [Cell]
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try decodeSuccess(type, response)
    }

    /// Two namespaces: B:1 over B:2 and B:3; F:1 over F:2 and F:3.
    static let obo = """
        format-version: 1.2
        data-version: results/2026-12-01

        [Term]
        id: B:1
        namespace: biological_process

        [Term]
        id: B:2
        namespace: biological_process
        is_a: B:1

        [Term]
        id: B:3
        namespace: biological_process
        is_a: B:1

        [Term]
        id: F:1
        namespace: molecular_function

        [Term]
        id: F:2
        namespace: molecular_function
        is_a: F:1

        [Term]
        id: F:3
        namespace: molecular_function
        is_a: F:1
        """

    @Test func oneResultCoversEveryCategoryAndTheMatrixReadsItAgain() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("eval-results")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let ontology = try Self.decode(
                    Created.self, try await calls.post("/ontologies", Self.obo, contentType: "text/plain")
                ).id
                func set(_ kind: String, _ name: String, _ lines: String) async throws -> String {
                    try Self.decode(
                        Created.self,
                        try await calls.post(
                            "/\(kind)?ontology_id=\(ontology)&name=\(name)", lines,
                            contentType: "text/tab-separated-values")
                    ).id
                }
                // P1 gains B:3 beside its B:2 (PK in BP); P2 had only MF and gains B:2 (LK in BP); P3 is new (NK).
                let old = try await set("annotation-sets", "old", "P1\tB:2\tIDA\nP2\tF:2\tIDA\n")
                let new = try await set(
                    "annotation-sets", "new", "P1\tB:2\nP1\tB:3\nP2\tF:2\nP2\tB:2\nP3\tB:3\nP3\tF:3\n")
                let evaluationSet = try Self.decode(
                    Created.self,
                    try await calls.post(
                        "/evaluation-sets", #"{"old_annotation_set_id":"\#(old)","new_annotation_set_id":"\#(new)"}"#)
                ).id
                let predictions = try await set(
                    "prediction-sets", "p",
                    "P1\tB:3\t0.9\nP2\tB:2\t0.8\nP2\tB:3\t0.4\nP3\tB:3\t0.7\nP3\tF:3\t0.6\nP3\tF:2\t0.3\n")
                let other = try await set("prediction-sets", "q", "P1\tB:2\t0.5\nP2\tB:3\t0.5\nP3\tF:2\t0.9\n")

                // All three categories in one result, each equal to that category evaluated alone.
                let request = #"{"prediction_set_id":"\#(predictions)","evaluation_set_id":"\#(evaluationSet)"}"#
                let created = try await calls.post("/evaluation-results", request)
                #expect(created.status == .created)
                let result = try Self.decode(Result.self, created)
                #expect(Set(result.categories.keys) == ["NK", "LK", "PK"] && !result.cached)
                for category in ["NK", "LK", "PK"] {
                    let alone = try Self.decode(
                        Evaluation.self,
                        try await calls.post(
                            "/cafa-evaluations",
                            #"{"prediction_set_id":"\#(predictions)","evaluation_set_id":"\#(evaluationSet)","category":"\#(category)"}"#
                        ))
                    let inResult = try #require(result.categories[category])
                    #expect(inResult.namespaces == alone.namespaces && inResult.category == category)
                    // …and readable alone, in the result and as a CAFA evaluation of its own.
                    let one = try Self.decode(
                        Result.self, try await calls.get("/evaluation-results/\(result.id)?category=\(category)"))
                    #expect(Array(one.categories.keys) == [category])
                    let stored = try Self.decode(
                        Evaluation.self, try await calls.get("/cafa-evaluations/\(inResult.id)"))
                    #expect(stored.namespaces == alone.namespaces)
                }
                #expect(
                    result.categories["NK"]?.namespaces.map(\.namespace).sorted() == [
                        "biological_process", "molecular_function",
                    ])
                #expect(
                    result.categories["LK"]?.namespaces.first { $0.namespace == "biological_process" }?.targets == 1)
                // The same request again: the kept result, 200.
                let again = try await calls.post("/evaluation-results", request)
                #expect(again.status == .ok)
                let kept = try Self.decode(Result.self, again)
                #expect(kept.id == result.id && kept.cached)
                #expect(
                    try await calls.post(
                        "/evaluation-results",
                        #"{"prediction_set_id":"\#(predictions)","evaluation_set_id":"\#(evaluationSet)","category":"NK"}"#
                    ).status == .unprocessableContent)

                // An information-accretion file attached to the snapshot weights what names none.
                let ia = "B:1\t0\nB:2\t1.5\nB:3\t2\nF:1\t0\nF:2\t0.5\nF:3\t1\n"
                #expect(
                    try await calls.client.execute(
                        uri: "/v1/orgs/\(org)/ontologies/\(ontology)/information-accretion", method: .get,
                        headers: calls.headers
                    ).status == .notFound)
                let attached = try await calls.client.execute(
                    uri: "/v1/orgs/\(org)/ontologies/\(ontology)/information-accretion", method: .put,
                    headers: [.authorization: "Bearer \(platform.plaintext)", .contentType: "text/plain"],
                    body: ByteBuffer(string: ia))
                #expect(attached.status == .ok, "\(String(buffer: attached.body))")
                let truthRequest = #"{"prediction_set_id":"\#(predictions)","annotation_set_id":"\#(new)""#
                let byDefault = try Self.decode(
                    Evaluation.self, try await calls.post("/cafa-evaluations", truthRequest + "}"))
                let explicit = try Self.decode(
                    Evaluation.self,
                    try await calls.post(
                        "/cafa-evaluations",
                        truthRequest
                            + #","information_accretion":"\#(ia.replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n"))"}"#
                    ))
                let unweighted = try Self.decode(
                    Evaluation.self,
                    try await calls.post(
                        "/cafa-evaluations", truthRequest + #","use_ontology_information_accretion":false}"#))
                #expect(byDefault.weighted && explicit.weighted && !unweighted.weighted)
                #expect(byDefault.namespaces == explicit.namespaces)
                #expect(byDefault.namespaces.allSatisfy { $0.best.f_w != nil })

                // The matrix: the result made before the file is not these options' (they now carry its hash), so
                // every cell is computed once, then read again.
                let matrixRequest =
                    #"{"prediction_set_ids":["\#(predictions)","\#(other)"],"evaluation_set_ids":["\#(evaluationSet)"]}"#
                let first = try Self.decode(Matrix.self, try await calls.post("/benchmark-matrix", matrixRequest))
                #expect(
                    first.cells.map(\.prediction_set_id) == [predictions, other]
                        && first.cells.allSatisfy { !$0.cached })
                let second = try Self.decode(Matrix.self, try await calls.post("/benchmark-matrix", matrixRequest))
                #expect(second.cells.allSatisfy { $0.cached })
                #expect(second.cells.map(\.evaluation_result_id) == first.cells.map(\.evaluation_result_id))
                let cell = try Self.decode(
                    Result.self, try await calls.get("/evaluation-results/\(first.cells[0].evaluation_result_id)"))
                for (category, evaluation) in cell.categories {
                    for namespace in evaluation.namespaces {
                        let score = first.cells[0].categories[category]?.first { $0.namespace == namespace.namespace }
                        #expect(score?.f_max == namespace.best.f?.value && score?.f_max_w == namespace.best.f_w?.value)
                    }
                }

                // Records: three evaluation results made (one by the first request, two by the matrix), each with
                // its three categories' evaluations; the file's attachment.
                let actions = try await env.outboxActions(org)
                #expect(actions.filter { $0 == "evaluation_result.create" }.count == 3)
                #expect(actions.filter { $0 == "ontology.ia_set" }.count == 1)
                // 3 results × 3 categories, 3 categories alone, 3 on the annotation set (default, explicit, unweighted file).
                let evaluations = actions.filter { $0 == "cafa_evaluation.create" }.count
                #expect(evaluations == 15)
            }
        }
    }
}
