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
@testable import TesseraGateway

/// Reading a run's results back, and the background lease reaper.
@Suite struct PredictionResultTests {
    static let logger = TestDatabase.logger

    struct Claim: Decodable {
        struct Work: Decodable {
            let work_item_id: String
            let row_id: String
            let prompt: String
        }
        let lease_id: String
        let items: [Work]
    }

    struct Prediction: Decodable {
        let row_id: String
        let position: Int
        let status: String
        let output: String?
        let expected_prediction: String?
        let correct: Bool?
        let latency_seconds: Double?
        let error: String?
    }

    struct Page: Decodable {
        let items: [Prediction]
        let next_cursor: String?
    }

    /// A dataset of `rows` rows "r0"… with the given expectations, a run over it, and one claim of every item.
    static func claimedRun(_ calls: OrgCalls, expected: [String?], leaseSeconds: Int = 300) async throws -> (
        run: String, claim: Claim
    ) {
        let dataset = try await calls.create("/datasets", #"{"name":"d","fields":["text"]}"#)
        let lines = expected.enumerated().map { i, e in
            e.map { #"{"content":{"text":"r\#(i)"},"expected_prediction":"\#($0)"}"# }
                ?? #"{"content":{"text":"r\#(i)"}}"#
        }
        #expect(
            try await calls.post(
                "/datasets/\(dataset)/rows", lines.joined(separator: "\n"), contentType: "application/x-ndjson"
            ).status
                == .ok)
        let model = try await calls.create("/models", #"{"name":"m","source":"ollama"}"#)
        let prompt = try await calls.create("/prompts", #"{"name":"p","template":"{{text}}"}"#)
        let run = try await calls.create(
            "/runs", #"{"model_id":"\#(model)","prompt_id":"\#(prompt)","dataset_id":"\#(dataset)"}"#)
        let response = try await calls.post("/runs/\(run)/claim", #"{"limit":1000,"lease_seconds":\#(leaseSeconds)}"#)
        return (run, try JSONDecoder().decode(Claim.self, from: Data(buffer: response.body)))
    }

    @Test func predictionsAreListedFilteredPagedAndExported() async throws {
        try await TenantTests().withEnv { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("listing")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let (run, claim) = try await Self.claimedRun(calls, expected: ["pos", "neg", "pos", nil, "neg"])
                // r0 right (white space aside), r1 wrong, r2 failed, r3 nothing expected, r4 right.
                let outputs: [String: (String?, String)] = [
                    "r0": (" pos\\n", "succeeded"), "r1": ("pos", "succeeded"), "r2": (nil, "failed"),
                    "r3": ("x", "succeeded"),
                    "r4": ("neg", "succeeded"),
                ]
                let results = claim.items.map { item in
                    let (output, status) = outputs[item.prompt]!
                    let outputField = output.map { #","output":"\#($0)""# } ?? #","error":"timeout""#
                    return
                        #"{"work_item_id":"\#(item.work_item_id)","status":"\#(status)","latency_seconds":0.25\#(outputField)}"#
                }
                let submitted = try await calls.post(
                    "/runs/\(run)/predictions",
                    #"{"lease_id":"\#(claim.lease_id)","results":[\#(results.joined(separator: ","))]}"#)
                #expect(submitted.status == .ok)

                func page(_ query: String) async throws -> Page {
                    let response = try await calls.get("/runs/\(run)/predictions\(query)")
                    #expect(response.status == .ok, "\(query): \(String(buffer: response.body))")
                    return try JSONDecoder().decode(Page.self, from: Data(buffer: response.body))
                }
                let all = try await page("")
                #expect(all.items.count == 5 && all.next_cursor == nil)
                let byPosition = Dictionary(uniqueKeysWithValues: all.items.map { ($0.position, $0) })
                #expect(byPosition[0]?.correct == true && byPosition[0]?.output == " pos\n")
                #expect(
                    byPosition[1]?.correct == false && byPosition[2]?.correct == false
                        && byPosition[2]?.error == "timeout")
                #expect(byPosition[3]?.correct == nil && byPosition[3]?.expected_prediction == nil)
                #expect(byPosition[4]?.correct == true && byPosition[4]?.latency_seconds == 0.25)
                #expect(Set(try await page("?status=failed").items.map(\.position)) == [2])
                #expect(Set(try await page("?correct=true").items.map(\.position)) == [0, 4])
                #expect(Set(try await page("?correct=false").items.map(\.position)) == [1, 2])
                #expect(Set(try await page("?correct=true&status=failed").items.map(\.position)) == [])
                let row3 = byPosition[3]!.row_id
                #expect(try await page("?row_id=\(row3)").items.map(\.position) == [3])
                // Cursor paging: every prediction once, in pages of two.
                var seen: [Int] = []
                var cursor: String?
                repeat {
                    let p = try await page("?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                    #expect(p.items.count <= 2)
                    seen += p.items.map(\.position)
                    cursor = p.next_cursor
                } while cursor != nil
                #expect(seen.sorted() == [0, 1, 2, 3, 4])
                #expect(try await calls.get("/runs/\(run)/predictions?cursor=nope").status == .badRequest)
                #expect(try await calls.get("/runs/\(run)/predictions?status=maybe").status == .badRequest)
                #expect(try await calls.get("/runs/\(UUID())/predictions").status == .notFound)

                // Exports: NDJSON of all, CSV of the right ones.
                let ndjson = String(buffer: try await calls.get("/runs/\(run)/predictions/export").body)
                let lines = ndjson.split(separator: "\n")
                #expect(lines.count == 5)
                #expect(
                    try lines.map { try JSONDecoder().decode(Prediction.self, from: Data($0.utf8)).position }.sorted()
                        == [0, 1, 2, 3, 4])
                let csv = String(
                    buffer: try await calls.get("/runs/\(run)/predictions/export?format=csv&correct=true").body)
                let rows = csv.split(separator: "\n", omittingEmptySubsequences: true)
                #expect(
                    rows.first
                        == "id,row_id,position,status,output,expected_prediction,correct,latency_seconds,error,created_at"
                )
                #expect(rows.count == 1 + 2 + 1)  // r0's output holds a line break, quoted
                #expect(csv.contains(",\" pos\n\",pos,true,0.25,,"))
                #expect(try await calls.get("/runs/\(UUID())/predictions/export").status == .notFound)
            }
        }
    }

    /// Expired leases go back to pending without any claim: the reaper sweeps the orgs with open pools,
    /// fixes the run's counters and audits what it returned.
    @Test func backgroundReaperReturnsExpiredLeases() async throws {
        try await TenantTests().withEnv { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("reaper")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let (run, claim) = try await Self.claimedRun(
                    calls, expected: Array(repeating: "a", count: 7), leaseSeconds: 5)
                #expect(claim.items.count == 7)
                let (placement, server, password) = try await env.placement(org)
                func counters() async throws -> (String, Int, Int) {
                    try await server.withOrgConnection(placement.name, password: password, logger: Self.logger) {
                        try await $0.query(
                            "SELECT status::text, pending, in_progress FROM prediction_runs WHERE id = \(UUID(uuidString: run)!)",
                            logger: Self.logger
                        )
                        .collect()[0].decode((String, Int, Int).self)
                    }
                }
                #expect(try await counters() == ("running", 0, 7))
                // Three of the seven run out.
                let expiring = claim.items.prefix(3).map { UUID(uuidString: $0.work_item_id)! }
                try await server.withOrgConnection(placement.name, password: password, logger: Self.logger) {
                    try await $0.query(
                        "UPDATE work_items SET lease_expires_at = now() - interval '1 second' WHERE id = ANY(\(expiring)::uuid[])",
                        logger: Self.logger)
                }
                let tenants = TenantDatabases(
                    metadata: env.client, box: env.box, settings: env.settings, logger: Self.logger)
                let reaper = LeaseReaper(
                    tenants: tenants, relay: AuditRelay(metadata: env.client, tenants: tenants, logger: Self.logger),
                    interval: .seconds(60),
                    logger: Self.logger)
                #expect(await reaper.sweep() == 0)  // no pool open: nothing this gateway worked for
                _ = try await PredictionRepository(org: org, databases: tenants, logger: Self.logger).run(
                    UUID(uuidString: run)!)
                #expect(await reaper.sweep() == 3)
                #expect(try await counters() == ("running", 3, 4))
                #expect(await reaper.sweep() == 0)
                // The others' lease still holds: submitting them completes nothing yet; a reclaim gets the three.
                let reclaimed = try JSONDecoder().decode(
                    Claim.self, from: Data(buffer: try await calls.post("/runs/\(run)/claim", #"{"limit":10}"#).body))
                #expect(Set(reclaimed.items.map { UUID(uuidString: $0.work_item_id)! }) == Set(expiring))
                let audited = try await server.withOrgConnection(
                    placement.name, password: password, logger: Self.logger
                ) {
                    try await $0.query(
                        "SELECT event->>'actor_kind', event->'metadata'->>'items' FROM audit_outbox WHERE event->>'action' = 'run.lease_expire'",
                        logger: Self.logger
                    ).collect().map { try $0.decode((String, String).self) }
                }
                #expect(audited.count == 1 && audited.first?.0 == "system" && audited.first?.1 == "3")
                await tenants.closeAll()
            }
        }
    }
}

/// Task definitions, pipelines and jobs through the API, against real databases.
@Suite struct JobAndPipelineTests {
    static let logger = TestDatabase.logger

    static let spec31 =
        #"{"openapi":"3.1.0","info":{"title":"dock","version":"1"},"paths":{"/run":{"post":{"responses":{"200":{"description":"ok"}}}}}}"#
    static let spec30 =
        #"{"openapi":"3.0.3","info":{"title":"fold","version":"1"},"paths":{"/run":{"post":{"responses":{"200":{"description":"ok"}}}}}}"#

    struct Created: Decodable { let id: String }
    struct Problem: Decodable {
        let status: Int
        let detail: String
        let problems: [String]?
    }
    struct Definition: Decodable {
        let id: String
        let task_id: String
        let version: String
        let active: Bool
        let is_system: Bool
    }
    struct DefinitionList: Decodable { let items: [Definition] }
    struct Version: Decodable {
        let id: String
        let version: Int
        let published: Bool
        let checksum: String
    }
    struct Job: Decodable {
        let id: String
        let status: String
        let input_signature: String
        let cached: Bool
        struct File: Decodable {
            let name: String
            let sha256: String?
        }
        let inputs: [File]
        let outputs: [File]
    }
    struct Event: Decodable {
        let seq: Int
        let kind: String
    }
    struct Page<T: Decodable>: Decodable {
        let items: [T]
        let next_cursor: String?
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(buffer: response.body))
    }

    /// A definition, a published two-step pipeline over it; returns the version id.
    static func publishedPipeline(_ calls: OrgCalls, name: String = "dock") async throws -> String {
        let definition = try await calls.post(
            "/task-definitions", #"{"task_id":"dock","version":"1.0.0","interface_spec":\#(spec31)}"#)
        #expect(definition.status == .created || definition.status == .conflict)
        let pipeline = try await calls.create("/pipelines", #"{"name":"\#(name)"}"#)
        let steps =
            #"{"steps":[{"key":"prep","task":"dock","version":"1.0.0"},{"key":"run","task":"dock","version":"1.0.0","depends_on":["prep"]}]}"#
        let version = try decode(Version.self, try await calls.post("/pipelines/\(pipeline)/versions", steps))
        #expect(try await calls.post("/pipelines/\(pipeline)/versions/\(version.version)/publish", "").status == .ok)
        return version.id
    }

    @Test func taskDefinitionsAreValidatedImmutableAndSystemOnesReadOnly() async throws {
        try await TenantTests().withEnv { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("tasks")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                // Every problem is listed: the version, and what OpenAPIKit finds in the document.
                let bad = try await calls.post(
                    "/task-definitions",
                    #"{"task_id":"dock","version":"1.0","interface_spec":{"openapi":"3.1.0","info":{"title":"x"},"paths":{}}}"#
                )
                #expect(bad.status == .unprocessableContent)
                let problem = try Self.decode(Problem.self, bad)
                #expect(problem.problems?.contains { $0.hasPrefix("version:") } == true)
                #expect(
                    problem.problems?.contains { $0.hasPrefix("interface_spec") && $0.contains("version") } == true,
                    "\(problem)")
                let notOpenAPI = try Self.decode(
                    Problem.self,
                    try await calls.post(
                        "/task-definitions", #"{"task_id":"x","version":"1.0.0","interface_spec":{"swagger":"2.0"}}"#))
                #expect(
                    notOpenAPI.problems == [
                        "interface_spec.openapi: missing; it names the OpenAPI version (3.0.x or 3.1.x)"
                    ])
                // 3.1 and 3.0 documents are accepted; the same version twice is refused (immutable).
                let dock = try Self.decode(
                    Definition.self,
                    try await calls.post(
                        "/task-definitions",
                        #"{"task_id":"dock","version":"1.2.0","interface_spec":\#(Self.spec31),"metadata":{"owner":"chem"}}"#
                    ))
                #expect(
                    try await calls.post(
                        "/task-definitions", #"{"task_id":"dock","version":"1.10.0","interface_spec":\#(Self.spec30)}"#
                    )
                    .status == .created)
                #expect(
                    try await calls.post(
                        "/task-definitions", #"{"task_id":"dock","version":"1.2.0","interface_spec":\#(Self.spec31)}"#
                    )
                    .status == .conflict)
                // Versions of a task in semantic-version order.
                let versions = try Self.decode(
                    DefinitionList.self, try await calls.get("/task-definitions?task_id=dock")
                ).items.map(
                    \.version)
                #expect(versions == ["1.2.0", "1.10.0"])
                // Deactivate and activate; each change is audited.
                #expect(
                    try Self.decode(
                        Definition.self, try await calls.post("/task-definitions/\(dock.id)/deactivate", "")
                    ).active == false)
                #expect(
                    try Self.decode(Definition.self, try await calls.post("/task-definitions/\(dock.id)/activate", ""))
                        .active == true)
                // A system definition: every org sees it, none may change it.
                let system = try await env.settings.database.withConnection(as: .admin, logger: Self.logger) {
                    connection in
                    try await connection.query(
                        "INSERT INTO task_definitions (is_system, task_id, version, interface_spec) VALUES (true, 'blast', '2.0.0', \(Self.spec31)::jsonb) RETURNING id",
                        logger: Self.logger
                    ).collect()[0].decode(UUID.self)
                }
                let listed = try Self.decode(DefinitionList.self, try await calls.get("/task-definitions")).items
                #expect(listed.contains { $0.task_id == "blast" && $0.is_system })
                #expect(try await calls.post("/task-definitions/\(system)/deactivate", "").status == .forbidden)
                // The database refuses edits of anything but `active`.
                await #expect(throws: (any Error).self) {
                    try await env.settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                        try await connection.query(
                            "UPDATE task_definitions SET version = '9.9.9' WHERE id = \(UUID(uuidString: dock.id)!)",
                            logger: Self.logger)
                    }
                }
                let actions = try await env.client.withConnection { connection in
                    try await connection.query(
                        "SELECT action FROM audit_logs WHERE org_id = \(org) ORDER BY seq", logger: Self.logger
                    )
                    .collect().map { try $0.decode(String.self) }
                }
                #expect(
                    actions.filter { $0.hasPrefix("task_definition.") } == [
                        "task_definition.create", "task_definition.create", "task_definition.deactivate",
                        "task_definition.activate",
                    ])
            }
        }
    }

    @Test func pipelinesAreCheckedDAGsAndPublishedVersionsNeverChange() async throws {
        try await TenantTests().withEnv { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("pipelines")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let dock = try await calls.create(
                    "/task-definitions", #"{"task_id":"dock","version":"1.0.0","interface_spec":\#(Self.spec31)}"#)
                #expect(
                    try await calls.post(
                        "/task-definitions", #"{"task_id":"old","version":"1.0.0","interface_spec":\#(Self.spec31)}"#
                    )
                    .status == .created)
                let old = try Self.decode(DefinitionList.self, try await calls.get("/task-definitions?task_id=old"))
                    .items[0].id
                #expect(try await calls.post("/task-definitions/\(old)/deactivate", "").status == .ok)
                let pipeline = try await calls.create("/pipelines", #"{"name":"p"}"#)
                // A cycle, an unknown dependency, an unknown and an inactive definition: all four, with paths.
                let bad = try await calls.post(
                    "/pipelines/\(pipeline)/versions",
                    #"""
                    {"steps":[{"key":"a","task":"dock","version":"1.0.0","depends_on":["c"]},
                              {"key":"b","task":"dock","version":"1.0.0","depends_on":["a","ghost"]},
                              {"key":"c","task":"dock","version":"1.0.0","depends_on":["b"]},
                              {"key":"d","task":"nope","version":"1.0.0"},
                              {"key":"e","task":"old","version":"1.0.0"}]}
                    """#)
                #expect(bad.status == .unprocessableContent)
                let problems = try Self.decode(Problem.self, bad).problems ?? []
                #expect(
                    problems.contains { $0.hasPrefix("steps[1].depends_on[1]") && $0.contains("ghost") }, "\(problems)")
                #expect(
                    problems.contains {
                        $0.contains("cycle") || $0.contains("a → b → c") || $0.contains("a -> b -> c")
                    }, "\(problems)")
                #expect(problems.contains { $0.hasPrefix("steps[3].task") && $0.contains("nope") }, "\(problems)")
                #expect(problems.contains { $0.hasPrefix("steps[4].task") && $0.contains("inactive") }, "\(problems)")
                // A valid diamond: a draft, replaceable until published, then immutable.
                let diamond =
                    #"{"steps":[{"key":"a","task":"dock","version":"1.0.0"},{"key":"b","task":"dock","version":"1.0.0","depends_on":["a"]},{"key":"c","task":"dock","version":"1.0.0","depends_on":["a"]},{"key":"d","task":"dock","version":"1.0.0","depends_on":["b","c"]}]}"#
                let draft = try Self.decode(
                    Version.self, try await calls.post("/pipelines/\(pipeline)/versions", diamond))
                #expect(draft.version == 1 && !draft.published)
                #expect(
                    try await calls.send(
                        .put, "/pipelines/\(pipeline)/versions/1",
                        #"{"steps":[{"key":"a","task":"dock","version":"1.0.0"}]}"#
                    ).status == .ok)
                let published = try Self.decode(
                    Version.self, try await calls.post("/pipelines/\(pipeline)/versions/1/publish", ""))
                #expect(published.published && published.checksum.count == 64)
                #expect(try await calls.send(.put, "/pipelines/\(pipeline)/versions/1", diamond).status == .conflict)
                #expect(try await calls.post("/pipelines/\(pipeline)/versions/1/publish", "").status == .conflict)
                #expect(
                    try Self.decode(Version.self, try await calls.post("/pipelines/\(pipeline)/versions", diamond))
                        .version == 2)
                // The database keeps a published version as it is.
                await #expect(throws: (any Error).self) {
                    try await env.settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                        try await connection.query(
                            "UPDATE pipeline_versions SET definition = '{}' WHERE id = \(UUID(uuidString: published.id)!)",
                            logger: Self.logger)
                    }
                }
                // A template, and a pipeline made from it (version 1 holds the template's steps).
                let template = try await calls.create(
                    "/pipeline-templates", #"{"name":"t","steps":[{"key":"x","task":"dock","version":"1.0.0"}]}"#)
                struct Pipeline: Decodable { let versions: [Version] }
                let fromTemplate = try Self.decode(
                    Pipeline.self, try await calls.post("/pipelines", #"{"name":"q","template_id":"\#(template)"}"#))
                #expect(fromTemplate.versions.map(\.version) == [1])
                #expect(try await calls.post("/pipelines", #"{"name":"p"}"#).status == .conflict)
                _ = dock
            }
        }
    }

    @Test func jobsFollowTheirStatusMachineKeepATimelineAndAnswerFromTheCache() async throws {
        try await TenantTests().withEnv { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("jobs")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let version = try await Self.publishedPipeline(calls)
                let digest = String(repeating: "ab", count: 32)
                let body =
                    #"{"pipeline_version_id":"\#(version)","params":{"b":1,"a":[true,null]},"inputs":[{"name":"ligand","uri":"s3://x/l.sdf","content_type":"chemical/x-mdl-sdfile","sha256":"\#(digest)"}]}"#
                let first = try await calls.post("/jobs", body)
                #expect(first.status == .created)
                let job = try Self.decode(Job.self, first)
                #expect(
                    job.status == "PENDING" && !job.cached && job.input_signature.count == 64
                        && job.inputs.first?.sha256 == digest)
                // The same params in another order are the same signature; not cached yet (not completed): a new job.
                let reordered =
                    #"{"pipeline_version_id":"\#(version)","params":{"a":[true,null],"b":1},"inputs":[{"name":"ligand","uri":"s3://x/l.sdf","content_type":"chemical/x-mdl-sdfile","sha256":"\#(digest)"}]}"#
                let second = try Self.decode(Job.self, try await calls.post("/jobs", reordered))
                #expect(second.input_signature == job.input_signature && second.id != job.id && !second.cached)
                // Illegal moves are 409; legal ones walk the machine.
                #expect(
                    try await calls.post("/jobs/\(job.id)/transition", #"{"status":"COMPLETED"}"#).status == .conflict)
                #expect(try await calls.post("/jobs/\(job.id)/transition", #"{"status":"RUNNING"}"#).status == .ok)
                #expect(
                    try await calls.post("/jobs/\(job.id)/transition", #"{"status":"PENDING"}"#).status == .conflict)
                // Executions, logs (paged), results, outputs, comments.
                let execution = try await calls.create("/jobs/\(job.id)/executions", #"{"step_key":"prep"}"#)
                struct Execution: Decodable {
                    let attempt: Int
                    let status: String
                }
                #expect(
                    try Self.decode(
                        Execution.self, try await calls.post("/jobs/\(job.id)/executions", #"{"step_key":"prep"}"#)
                    ).attempt
                        == 2)
                #expect(
                    try await calls.post("/jobs/\(job.id)/executions/\(execution)/transition", #"{"status":"RUNNING"}"#)
                        .status == .ok)
                #expect(
                    try await calls.post("/jobs/\(job.id)/executions/\(execution)/transition", #"{"status":"PENDING"}"#)
                        .status == .conflict
                )
                let lines = (0..<25).map { #"{"message":"line \#($0)"}"# }.joined(separator: ",")
                #expect(
                    try await calls.post("/jobs/\(job.id)/executions/\(execution)/logs", #"{"entries":[\#(lines)]}"#)
                        .status == .ok)
                struct Line: Decodable { let message: String }
                var messages: [String] = []
                var cursor: String?
                repeat {
                    let page = try Self.decode(
                        Page<Line>.self,
                        try await calls.get(
                            "/jobs/\(job.id)/executions/\(execution)/logs?limit=10"
                                + (cursor.map { "&cursor=\($0)" } ?? "")))
                    messages += page.items.map(\.message)
                    cursor = page.next_cursor
                } while cursor != nil
                #expect(messages == (0..<25).map { "line \($0)" })
                #expect(
                    try await calls.post(
                        "/jobs/\(job.id)/executions/\(execution)/results", #"{"result":{"score":-7.5}}"#
                    ).status
                        == .created)
                #expect(
                    try await calls.post(
                        "/jobs/\(job.id)/executions/\(execution)/transition", #"{"status":"COMPLETED"}"#
                    ).status == .ok)
                #expect(
                    try await calls.post(
                        "/jobs/\(job.id)/outputs",
                        #"{"name":"poses","uri":"s3://x/poses.sdf","content_type":"chemical/x-mdl-sdfile"}"#
                    ).status == .created)
                #expect(
                    try await calls.post(
                        "/jobs/\(job.id)/outputs", #"{"name":"poses","uri":"s3://x/other","content_type":"text/plain"}"#
                    )
                    .status == .conflict)
                #expect(try await calls.post("/jobs/\(job.id)/comments", #"{"body":"looks right"}"#).status == .created)
                #expect(try await calls.post("/jobs/\(job.id)/transition", #"{"status":"COMPLETED"}"#).status == .ok)
                #expect(
                    try await calls.post("/jobs/\(job.id)/transition", #"{"status":"CANCELED"}"#).status == .conflict)
                #expect(try await calls.post("/jobs/\(job.id)/executions", #"{"step_key":"late"}"#).status == .conflict)
                // The timeline: dense seq from 1, every change in order.
                let events = try Self.decode(Page<Event>.self, try await calls.get("/jobs/\(job.id)/events?limit=1000"))
                    .items
                #expect(events.map(\.seq) == Array(1...events.count))
                #expect(
                    events.map(\.kind) == [
                        "created", "status", "execution_created", "execution_created", "execution_status",
                        "task_result",
                        "execution_status",
                        "output_added", "comment", "status",
                    ])
                // Completed: the same signature now answers with this job (200, cached) and counts the hit.
                let hit = try await calls.post("/jobs", reordered)
                #expect(hit.status == .ok)
                let cached = try Self.decode(Job.self, hit)
                #expect(
                    cached.id == job.id && cached.cached && cached.status == "COMPLETED"
                        && cached.outputs.map(\.name) == ["poses"])
                let (placement, server, password) = try await env.placement(org)
                let hits = try await server.withOrgConnection(placement.name, password: password, logger: Self.logger) {
                    try await $0.query("SELECT hits FROM result_cache", logger: Self.logger).collect().map {
                        try $0.decode(Int.self)
                    }
                }
                #expect(hits == [1])
                // The timeline cannot be edited, even by the org's own role.
                await #expect(throws: (any Error).self) {
                    try await server.withOrgConnection(placement.name, password: password, logger: Self.logger) {
                        try await $0.query("UPDATE job_events SET kind = 'x'", logger: Self.logger)
                    }
                }
                // A draft version or another org's id is refused.
                #expect(
                    try await calls.post("/jobs", #"{"pipeline_version_id":"\#(UUID())"}"#).status
                        == .unprocessableContent)
                // Platform admins see the jobs of every org through the mirror, filtered by status.
                struct Meta: Decodable {
                    let org_id: String
                    let job_id: String
                    let status: String
                }
                try await waitUntil(timeout: .seconds(5)) {
                    let all = try Self.decode(
                        Page<Meta>.self,
                        try await client.execute(uri: "/v1/jobs?status=COMPLETED", method: .get, headers: calls.headers)
                    )
                    return all.items.map(\.job_id) == [job.id] && all.items.first?.org_id == Self.id(org)
                }
                let pending = try Self.decode(
                    Page<Meta>.self,
                    try await client.execute(uri: "/v1/jobs?status=PENDING", method: .get, headers: calls.headers))
                #expect(pending.items.map(\.job_id) == [second.id])
                // Every kind of job change reached the audit log (through the outbox and the relay).
                try await waitUntil(timeout: .seconds(5)) {
                    let everyAction = try await env.client.withConnection { connection in
                        try await connection.query(
                            "SELECT DISTINCT action FROM audit_logs WHERE org_id = \(org)", logger: Self.logger
                        )
                        .collect().map { try $0.decode(String.self) }
                    }
                    return AuditAction.allCases.map(\.rawValue).filter { $0.hasPrefix("job.") }.allSatisfy(
                        everyAction.contains)
                }
            }
        }
    }

    static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }
}

/// The health checker against a small HTTP server started by the test.
@Suite struct TaskHealthTests {
    static let logger = TestDatabase.logger

    enum Mode: Int { case healthy, failing, slow }

    @Test func servicesTurnUnhealthyAfterConsecutiveFailuresAndBack() async throws {
        let mode = Mutex(Mode.healthy)
        let router = Router()
        router.get("/health") { _, _ -> HTTPResponse.Status in
            switch mode.withLock({ $0 }) {
            case .healthy: return .ok
            case .failing: return .serviceUnavailable
            case .slow:
                try await Task.sleep(for: .seconds(3))
                return .ok
            }
        }
        let port = Mutex(0)
        let server = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } }, logger: Self.logger)
        let serving = Task { try await server.runService() }
        defer { serving.cancel() }
        try await waitUntil(timeout: .seconds(10)) { port.withLock { $0 } != 0 }
        let url = "http://127.0.0.1:\(port.withLock { $0 })"

        try await TenantTests().withEnv { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("health")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let definition = try await calls.create(
                    "/task-definitions",
                    #"{"task_id":"dock","version":"1.0.0","interface_spec":\#(JobAndPipelineTests.spec31)}"#)
                let live = try await calls.create(
                    "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(url)"}"#)
                let dead = try await calls.create(
                    "/task-services",
                    #"{"task_definition_id":"\#(definition)","service_url":"http://127.0.0.1:1","health_path":"/up"}"#)
                #expect(
                    try await calls.post(
                        "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"ftp://x"}"#
                    ).status
                        == .unprocessableContent)
                #expect(
                    try await calls.post(
                        "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(url)"}"#
                    ).status
                        == .conflict)

                struct Service: Decodable {
                    let id: String
                    let health_status: String
                    let consecutive_failures: Int
                    let last_health_check: Date?
                    let last_error: String?
                }
                struct List: Decodable { let items: [Service] }
                func state() async throws -> [String: Service] {
                    let decoder = JSONDecoder()
                    decoder.dateDecodingStrategy = .iso8601
                    let list = try decoder.decode(
                        List.self, from: Data(buffer: try await calls.get("/task-services").body))
                    return Dictionary(uniqueKeysWithValues: list.items.map { ($0.id, $0) })
                }
                #expect(try await state()[live]?.health_status == "unknown")

                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                let checker = TaskHealthChecker(
                    metadata: env.client, interval: .seconds(60), timeout: .seconds(1), failures: 2, logger: Self.logger
                )
                #expect(await checker.sweep(using: http) == 2)
                var now = try await state()
                #expect(now[live]?.health_status == "healthy" && now[live]?.last_health_check != nil)
                #expect(
                    now[dead]?.health_status == "unknown" && now[dead]?.consecutive_failures == 1
                        && now[dead]?.last_error != nil)
                await checker.sweep(using: http)
                #expect(try await state()[dead]?.health_status == "unhealthy")
                // The live one fails once (still healthy), times out (unhealthy), then answers again.
                mode.withLock { $0 = .failing }
                await checker.sweep(using: http)
                now = try await state()
                #expect(
                    now[live]?.health_status == "healthy" && now[live]?.consecutive_failures == 1
                        && now[live]?.last_error == "HTTP 503")
                mode.withLock { $0 = .slow }
                await checker.sweep(using: http)
                now = try await state()
                #expect(
                    now[live]?.health_status == "unhealthy" && now[live]?.last_error?.contains("no answer") == true,
                    "\(String(describing: now[live]))")
                mode.withLock { $0 = .healthy }
                await checker.sweep(using: http)
                #expect(try await state()[live]?.health_status == "healthy")
                try await http.shutdown()
                // Each change of status was audited as the system.
                let changes = try await env.client.withConnection { connection in
                    try await connection.query(
                        "SELECT entity_id, metadata->>'to' FROM audit_logs WHERE org_id = \(org) AND action = 'task_service.health' ORDER BY seq",
                        logger: Self.logger
                    ).collect().map { try $0.decode((String, String).self) }
                }
                #expect(changes.map(\.1) == ["healthy", "unhealthy", "unhealthy", "healthy"])
                #expect(changes.map(\.0) == [live, dead, live, live])
                #expect(
                    try await client.execute(
                        uri: "/v1/orgs/\(org)/task-services/\(dead)", method: .delete, headers: calls.headers
                    ).status
                        == .noContent)
            }
        }
    }
}

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
        try await TenantTests().withEnv(configure: manyFailures) { env in
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
                let job = try await a.create("/jobs", #"{"pipeline_version_id":"\#(version)"}"#)
                let pipeline = try await a.create("/pipelines", #"{"name":"matrix"}"#)
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
                struct RunDataset: Decodable { let dataset_id: String }
                let dataset = try JSONDecoder().decode(
                    RunDataset.self, from: Data(buffer: try await a.get("/runs/\(run)").body)
                ).dataset_id
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
                let routes: [Route] = [
                    Route(method: .get, path: "/datasets", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/datasets", body: { #"{"name":"d\#(UUID())"}"# }, success: .created,
                        writes: true),
                    Route(method: .get, path: "/runs/\(run)", body: nil, success: .ok, writes: false),
                    Route(method: .get, path: "/runs/\(run)/predictions", body: nil, success: .ok, writes: false),
                    Route(
                        method: .get, path: "/runs/\(run)/predictions/export", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/runs/\(run)/claim", body: { #"{"limit":1}"# }, success: .ok, writes: true
                    ),
                    Route(method: .get, path: "/jobs", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/jobs",
                        body: { #"{"pipeline_version_id":"\#(version)","params":{"n":"\#(UUID())"}}"# },
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
                        success: .created, writes: true),
                    Route(method: .get, path: "/evaluation-sets/\(split)", body: nil, success: .ok, writes: false),
                    Route(
                        method: .post, path: "/cafa-evaluations", body: { cafaRequest }, success: .created, writes: true
                    ),
                    Route(method: .get, path: "/cafa-evaluations", body: nil, success: .ok, writes: false),
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
                #expect(try await b.get("/evaluations/\(evaluation)").status == .notFound)
                #expect(try await b.get("/datasets/\(dataset)/leaderboard").status == .notFound)
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
