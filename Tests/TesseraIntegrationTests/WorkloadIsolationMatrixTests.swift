import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Synchronization
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraEvaluation
@testable import TesseraGateway

/// The isolation matrix for every workload route of an org, on provisioned orgs: every caller gets exactly its status,
/// and another org's key never reaches org A's rows (404, as for an org that does not exist).
@Suite struct WorkloadIsolationMatrixTests {
    static let logger = TestDatabase.logger

    struct Route: Sendable {
        let method: HTTPRequest.Method
        let path: String
        let body: (@Sendable () -> String)?
        let success: HTTPResponse.Status
        let writes: Bool
        var contentType = "application/json"
    }

    @Test func workloadRoutesAnswerEveryCallerExactly() async throws {
        let manyFailures: (inout Settings) -> Void = { $0.auth.maxFailures = 10_000 }
        try await TenantEnv.with(configure: manyFailures) { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let orgA = try await env.provisioned("matrix-a")
            let orgB = try await env.provisioned("matrix-b")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let a = OrgCalls(client: client, org: orgA, key: platform)
                struct Issued: Decodable { let key: String }
                func issue(_ org: UUID, _ role: String) async throws -> String {
                    let calls = OrgCalls(client: client, org: org, key: platform)
                    return try JSONDecoder().decode(
                        Issued.self,
                        from: Data(buffer: try await calls.post("/api-keys", #"{"name":"m","role":"\#(role)"}"#).body)
                    ).key
                }
                let admin = try await issue(orgA, "admin")
                let viewer = try await issue(orgA, "viewer")
                let other = try await issue(orgB, "admin")
                let wrong = AccessFixture.wrongSecret(for: try #require(APIKey.parse(admin)))
                // Objects in org A for the routes to act on.
                let (run, _) = try await PredictionResultTests.claimedRun(a, expected: ["x", "y"])
                let version = try await JobAndPipelineTests.publishedPipeline(a)
                let job = try await a.create("/jobs", #"{"pipeline_version_id":"\#(version)","dispatch":"manual"}"#)
                let pipeline = try await a.create("/pipelines", #"{"name":"matrix"}"#)
                let dockPipeline = try await JobAndPipelineTests.pipelineID(a, name: "dock")  // it has a job
                let step = #"{"steps":[{"key":"a","task":"dock","version":"1.0.0"}]}"#
                // Version 1 stays a draft.
                #expect(try await a.post("/pipelines/\(pipeline)/versions", step).status == .created)
                let released = try await a.create("/pipelines", #"{"name":"released"}"#)
                #expect(try await a.post("/pipelines/\(released)/versions", step).status == .created)
                #expect(try await a.post("/pipelines/\(released)/versions/1/publish", "").status == .ok)
                let template = try await a.create(
                    "/pipeline-templates", #"{"name":"t","steps":[{"key":"a","task":"dock","version":"1.0.0"}]}"#)
                let execution = try await a.create("/jobs/\(job)/executions", #"{"step_key":"s"}"#)
                let definition = try JSONDecoder().decode(
                    JobAndPipelineTests.DefinitionList.self,
                    from: Data(buffer: try await a.get("/task-definitions?task_id=dock").body)
                ).items[0].id
                let evaluation = try await a.create("/runs/\(run)/evaluations", "{}")
                struct RunInputs: Decodable {
                    let dataset_id: String
                    let model_id: String
                    let prompt_id: String
                }
                let inputs = try JSONDecoder().decode(
                    RunInputs.self, from: Data(buffer: try await a.get("/runs/\(run)").body))
                let dataset = inputs.dataset_id
                // CAFA objects: a snapshot, two annotation sets, a prediction set, an evaluation set and an evaluation.
                let ontology = try await a.create("/ontologies", CAFATests.obo, contentType: "text/plain")
                let truth = try await a.create(
                    "/annotation-sets?ontology_id=\(ontology)", "P1\tT:0004\n", contentType: "text/plain")
                let later = try await a.create(
                    "/annotation-sets?ontology_id=\(ontology)", "P1\tT:0004\nP2\tT:0101\n", contentType: "text/plain")
                let scores = try await a.create(
                    "/prediction-sets?ontology_id=\(ontology)", "P1\tT:0004\t0.5\n", contentType: "text/plain")
                let split = try await a.create(
                    "/evaluation-sets", #"{"old_annotation_set_id":"\#(truth)","new_annotation_set_id":"\#(later)"}"#)
                let cafaRequest = #"{"prediction_set_id":"\#(scores)","annotation_set_id":"\#(truth)"}"#
                let cafaEvaluation = try await a.create("/cafa-evaluations", cafaRequest)
                let artifact = try JSONDecoder().decode(
                    ArtifactTests.Artifact.self,
                    from: Data(buffer: try await ArtifactTests.upload(client, a, Array("ligand".utf8), name: "l").body)
                ).id
                let molecule = try await a.create(
                    "/molecules", #"{"name":"ligand","format":"sdf","artifact_id":"\#(artifact)"}"#)
                let routes: [Route] = [
                    Route(method: .get, path: "/datasets", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/datasets", body: { #"{"name":"d\#(UUID())"}"# }, success: .created,
                        writes: true),
                    Route(method: .get, path: "/runs", body: nil, success: .ok, writes: false),
                    Route(method: .delete, path: "/runs/\(run)", body: nil, success: .conflict, writes: true),
                    Route(method: .get, path: "/runs/\(run)", body: nil, success: .ok, writes: false),
                    // One dataset, model and prompt; deleting them is refused while the run uses them (409).
                    Route(method: .get, path: "/datasets/\(dataset)", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/datasets/\(dataset)/rows", body: nil, success: .ok, writes: false),
                    Route(method: .delete, path: "/datasets/\(dataset)", body: nil, success: .conflict, writes: true),
                    Route(method: .get, path: "/models/\(inputs.model_id)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .delete, path: "/models/\(inputs.model_id)", body: nil, success: .conflict, writes: true
                    ),
                    Route(method: .get, path: "/prompts/\(inputs.prompt_id)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .delete, path: "/prompts/\(inputs.prompt_id)", body: nil, success: .conflict,
                        writes: true
                    ),
                    Route(method: .get, path: "/runs/\(run)/predictions", body: nil, success: .ok, writes: false),
                    Route(
                        method: .get, path: "/runs/\(run)/predictions/export", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/runs/\(run)/claim", body: { #"{"limit":1}"# }, success: .ok, writes: true
                    ),
                    Route(method: .get, path: "/jobs", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/jobs",
                        body: {
                            #"{"pipeline_version_id":"\#(version)","dispatch":"manual","params":{"n":"\#(UUID())"}}"#
                        },
                        success: .created, writes: true),
                    Route(method: .get, path: "/jobs/\(job)", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/jobs/\(job)/events", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/jobs/\(job)/comments", body: { #"{"body":"hi"}"# }, success: .created,
                        writes: true),
                    Route(method: .get, path: "/task-definitions", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/task-definitions",
                        body: {
                            #"{"task_id":"m","version":"1.0.\#(UInt32.random(in: 0...UInt32.max))","interface_spec":\#(JobAndPipelineTests.spec31)}"#
                        }, success: .created, writes: true),
                    Route(method: .get, path: "/pipelines", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/pipelines", body: { #"{"name":"p\#(UUID())"}"# }, success: .created,
                        writes: true),
                    Route(
                        method: .post, path: "/pipelines/\(pipeline)/versions",
                        body: { #"{"steps":[{"key":"a","task":"dock","version":"1.0.0"}]}"# },
                        success: .created, writes: true),
                    Route(method: .get, path: "/task-services", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/models", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/models", body: { #"{"name":"m\#(UUID())","source":"ollama"}"# },
                        success: .created,
                        writes: true),
                    Route(method: .get, path: "/prompts", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/prompts", body: { #"{"name":"p\#(UUID())","template":"{{text}}"}"# },
                        success: .created,
                        writes: true),
                    Route(
                        method: .post, path: "/runs/\(run)/heartbeat", body: { #"{"lease_id":"\#(UUID())"}"# },
                        success: .ok, writes: true),
                    Route(
                        method: .post, path: "/runs/\(run)/predictions",
                        body: {
                            #"{"lease_id":"\#(UUID())","results":[{"work_item_id":"\#(UUID())","status":"failed"}]}"#
                        }, success: .conflict, writes: true),
                    Route(
                        method: .post, path: "/jobs/\(job)/transition", body: { #"{"status":"PENDING"}"# },
                        success: .conflict, writes: true
                    ),
                    Route(method: .get, path: "/jobs/\(job)/executions", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/jobs/\(job)/executions", body: { #"{"step_key":"s"}"# },
                        success: .created, writes: true),
                    Route(
                        method: .post, path: "/jobs/\(job)/executions/\(execution)/transition",
                        body: { #"{"status":"PENDING"}"# },
                        success: .conflict, writes: true),
                    Route(
                        method: .get, path: "/jobs/\(job)/executions/\(execution)/logs", body: nil, success: .ok,
                        writes: false),
                    Route(
                        method: .post, path: "/jobs/\(job)/executions/\(execution)/logs",
                        body: { #"{"entries":[{"message":"m"}]}"# },
                        success: .ok, writes: true),
                    Route(
                        method: .get, path: "/jobs/\(job)/executions/\(execution)/results", body: nil, success: .ok,
                        writes: false),
                    Route(
                        method: .post, path: "/jobs/\(job)/executions/\(execution)/results",
                        body: { #"{"result":{"x":1}}"# },
                        success: .created, writes: true),
                    Route(
                        method: .post, path: "/jobs/\(job)/outputs",
                        body: { #"{"name":"o\#(UUID())","uri":"s3://o","content_type":"text/plain"}"# },
                        success: .created, writes: true),
                    Route(method: .get, path: "/jobs/\(job)/comments", body: nil, success: .ok, writes: false),
                    Route(
                        method: .get, path: "/task-definitions/\(definition)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/task-definitions/\(definition)/deactivate", body: nil, success: .ok,
                        writes: true),
                    Route(
                        method: .post, path: "/task-definitions/\(definition)/activate", body: nil, success: .ok,
                        writes: true),
                    Route(
                        method: .post, path: "/task-services",
                        body: {
                            #"{"task_definition_id":"\#(definition)","service_url":"http://127.0.0.1:1/\#(UUID())"}"#
                        }, success: .created, writes: true),
                    Route(
                        method: .delete, path: "/task-services/\(UUID())", body: nil, success: .notFound, writes: true),
                    Route(method: .get, path: "/pipeline-templates", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/pipeline-templates",
                        body: { #"{"name":"t\#(UUID())","steps":[{"key":"a","task":"dock","version":"1.0.0"}]}"# },
                        success: .created, writes: true),
                    Route(
                        method: .get, path: "/pipeline-templates/\(template)", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/pipelines/\(pipeline)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .delete, path: "/pipelines/\(dockPipeline)", body: nil, success: .conflict,
                        writes: true),
                    Route(
                        method: .get, path: "/pipelines/\(pipeline)/versions/1", body: nil, success: .ok, writes: false),
                    Route(
                        method: .put, path: "/pipelines/\(pipeline)/versions/1", body: { step }, success: .ok,
                        writes: true),
                    Route(
                        method: .post, path: "/pipelines/\(released)/versions/1/publish", body: nil, success: .conflict,
                        writes: true),
                    Route(
                        method: .post, path: "/runs/\(run)/evaluations", body: { "{}" }, success: .created, writes: true
                    ),
                    Route(method: .get, path: "/runs/\(run)/evaluations", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/evaluations/\(evaluation)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .get, path: "/datasets/\(dataset)/leaderboard", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/ontologies", body: { CAFATests.obo }, success: .ok, writes: true,
                        contentType: "text/plain"),
                    Route(method: .get, path: "/ontologies", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/ontologies/\(ontology)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .delete, path: "/ontologies/\(ontology)", body: nil, success: .conflict, writes: true),
                    Route(
                        method: .get, path: "/ontologies/\(ontology)/terms/T:0004", body: nil, success: .ok,
                        writes: false),
                    Route(
                        method: .post, path: "/annotation-sets?ontology_id=\(ontology)", body: { "P1\tT:0002\n" },
                        success: .created,
                        writes: true,
                        contentType: "text/tab-separated-values"),
                    Route(method: .get, path: "/annotation-sets", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/annotation-sets/\(truth)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/prediction-sets?ontology_id=\(ontology)", body: { "P1\tT:0002\t0.25\n" },
                        success: .created,
                        writes: true, contentType: "text/plain"),
                    Route(method: .get, path: "/prediction-sets", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/prediction-sets/\(scores)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/evaluation-sets",
                        body: { #"{"old_annotation_set_id":"\#(truth)","new_annotation_set_id":"\#(later)"}"# },
                        success: .ok, writes: true),  // the pair's set exists: answered again, 200
                    Route(method: .get, path: "/evaluation-sets", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/evaluation-sets/\(split)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/cafa-evaluations", body: { cafaRequest }, success: .created, writes: true
                    ),
                    Route(method: .get, path: "/cafa-evaluations", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/artifacts", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/artifacts?name=m", body: { "bytes" }, success: .created, writes: true,
                        contentType: "application/octet-stream"),
                    Route(method: .get, path: "/artifacts/\(artifact)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .get, path: "/artifacts/\(artifact)/metadata", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/artifacts/\(artifact)/download-link", body: nil, success: .created,
                        writes: false),
                    Route(method: .delete, path: "/artifacts/\(UUID())", body: nil, success: .notFound, writes: true),
                    Route(method: .get, path: "/molecules", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/molecules",
                        body: { #"{"name":"m\#(UUID())","format":"pdb","artifact_id":"\#(artifact)"}"# },
                        success: .created, writes: true),
                    Route(method: .get, path: "/molecules/\(molecule)", body: nil, success: .ok, writes: false),
                    Route(method: .delete, path: "/molecules/\(UUID())", body: nil, success: .notFound, writes: true),
                    Route(method: .get, path: "/jobs/\(job)/docking-results", body: nil, success: .ok, writes: false),
                    Route(
                        method: .get, path: "/cafa-evaluations/\(cafaEvaluation)", body: nil, success: .ok,
                        writes: false),
                ]
                let callers: [(String, String?)] = [
                    ("none", nil), ("malformed", "tsk_not_a_key"), ("wrong secret", wrong), ("other org", other),
                    ("viewer", viewer),
                    ("admin", admin), ("platform", platform.plaintext),
                ]
                for route in routes {
                    for (name, token) in callers {
                        var headers: HTTPFields = [.contentType: route.contentType]
                        if let token { headers[.authorization] = "Bearer \(token)" }
                        let expected: HTTPResponse.Status =
                            switch name {
                            case "none", "malformed", "wrong secret": .unauthorized
                            case "other org": .notFound
                            case "viewer": route.writes ? .forbidden : route.success
                            default: route.success
                            }
                        let response = try await client.execute(
                            uri: "/v1/orgs/\(orgA)\(route.path)", method: route.method, headers: headers,
                            body: route.body.map { ByteBuffer(string: $0()) })
                        #expect(
                            response.status == expected,
                            "\(route.method) \(route.path) as \(name): \(response.status.code) \(String(buffer: response.body))"
                        )
                    }
                }
                // Cancel is a one-way move: a fresh run for each caller.
                let runBody = try await a.get("/runs/\(run)").body
                struct RunRefs: Decodable {
                    let model_id: String
                    let prompt_id: String
                    let dataset_id: String
                }
                let refs = try JSONDecoder().decode(RunRefs.self, from: Data(buffer: runBody))
                for (name, token) in callers {
                    let fresh = try await a.create(
                        "/runs",
                        #"{"model_id":"\#(refs.model_id)","prompt_id":"\#(refs.prompt_id)","dataset_id":"\#(refs.dataset_id)"}"#
                    )
                    var headers: HTTPFields = [.contentType: "application/json"]
                    if let token { headers[.authorization] = "Bearer \(token)" }
                    let expected: HTTPResponse.Status =
                        switch name {
                        case "none", "malformed", "wrong secret": .unauthorized
                        case "other org": .notFound
                        case "viewer": .forbidden
                        default: .ok
                        }
                    let response = try await client.execute(
                        uri: "/v1/orgs/\(orgA)/runs/\(fresh)/cancel", method: .post, headers: headers)
                    #expect(response.status == expected, "cancel as \(name): \(response.status.code)")
                }
                // Org B's admin sees none of A's objects through B either.
                let b = OrgCalls(client: client, org: orgB, key: platform)
                #expect(try await b.get("/jobs/\(job)").status == .notFound)
                #expect(try await b.get("/runs/\(run)").status == .notFound)
                #expect(try await b.get("/pipelines/\(pipeline)").status == .notFound)
                #expect(try await b.send(.delete, "/pipelines/\(dockPipeline)").status == .notFound)
                #expect(try await b.get("/evaluations/\(evaluation)").status == .notFound)
                #expect(try await b.get("/datasets/\(dataset)/leaderboard").status == .notFound)
                #expect(try await b.send(.delete, "/ontologies/\(ontology)").status == .notFound)
                #expect(try await b.get("/artifacts/\(artifact)").status == .notFound)
                #expect(try await b.send(.delete, "/artifacts/\(artifact)").status == .notFound)
                for path in [
                    "/ontologies/\(ontology)", "/annotation-sets/\(truth)", "/prediction-sets/\(scores)",
                    "/evaluation-sets/\(split)",
                    "/cafa-evaluations/\(cafaEvaluation)",
                ] {
                    #expect(try await b.get(path).status == .notFound, "\(path) through org B")
                }
                // Org B cannot evaluate A's prediction set against A's truth either.
                #expect(try await b.post("/cafa-evaluations", cafaRequest).status == .unprocessableContent)
            }
        }
    }
}
