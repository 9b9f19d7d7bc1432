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
        try await TenantEnv.with { env in
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

    /// The id of the org's pipeline named `name`.
    static func pipelineID(_ calls: OrgCalls, name: String) async throws -> String {
        struct Named: Decodable { let id, name: String }
        struct List: Decodable { let items: [Named] }
        return try #require(try decode(List.self, try await calls.get("/pipelines")).items.first { $0.name == name }).id
    }

    @Test func aPipelineIsDeletedWithItsVersionsOnlyWhenNoJobNamesIt() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("pipeline-delete")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let usedVersion = try await Self.publishedPipeline(calls, name: "used")
                _ = try await calls.create("/jobs", #"{"pipeline_version_id":"\#(usedVersion)"}"#)
                let used = try await Self.pipelineID(calls, name: "used")
                let refused = try await calls.send(.delete, "/pipelines/\(used)")
                #expect(
                    refused.status == .conflict && String(buffer: refused.body).contains("used by 1 job"),
                    "\(String(buffer: refused.body))")
                #expect(try await calls.get("/pipelines/\(used)").status == .ok)

                // A pipeline whose published version has no job goes with its versions. While a job of it is being
                // created (which holds the pipeline's lock shared in the org's database), the deletion waits.
                let spareVersion = try await Self.publishedPipeline(calls, name: "spare")
                let spare = try await Self.pipelineID(calls, name: "spare")
                let deletion = try await env.holdingSharedLock(org, AdvisoryLock.pipelineUse, on: spare) {
                    let deletion = Task { try await calls.send(.delete, "/pipelines/\(spare)").status }
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(try await calls.get("/pipelines/\(spare)").status == .ok)
                    return deletion
                }
                #expect(try await deletion.value == .noContent)
                #expect(try await calls.get("/pipelines/\(spare)").status == .notFound)
                let orphan = try await calls.post("/jobs", #"{"pipeline_version_id":"\#(spareVersion)"}"#)
                #expect(orphan.status == .unprocessableContent)
                #expect(try await calls.send(.delete, "/pipelines/\(spare)").status == .notFound)
                #expect(try await calls.send(.delete, "/pipelines/\(UUID())").status == .notFound)
                let versionsLeft = try await env.client.withConnection { connection in
                    try await connection.query(
                        "SELECT count(*) FROM pipeline_versions WHERE pipeline_id = \(UUID(uuidString: spare)!)",
                        logger: Self.logger
                    ).collect()[0].decode(Int.self)
                }
                #expect(versionsLeft == 0)
                // Acknowledged with its record.
                let records = try await env.client.withConnection { connection in
                    try await connection.query(
                        """
                        SELECT count(*) FROM audit_logs WHERE org_id = \(org) AND action = 'pipeline.delete'
                          AND entity_id = \(spare)
                        """, logger: Self.logger
                    ).collect()[0].decode(Int.self)
                }
                #expect(records == 1)
            }
        }
    }

    @Test func pipelinesAreCheckedDAGsAndPublishedVersionsNeverChange() async throws {
        try await TenantEnv.with { env in
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
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("jobs")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let version = try await Self.publishedPipeline(calls)
                let digest = String(repeating: "ab", count: 32)
                let body =
                    #"{"pipeline_version_id":"\#(version)","dispatch":"manual","params":{"b":1,"a":[true,null]},"inputs":[{"name":"ligand","uri":"s3://x/l.sdf","content_type":"chemical/x-mdl-sdfile","sha256":"\#(digest)"}]}"#
                let first = try await calls.post("/jobs", body)
                #expect(first.status == .created)
                let job = try Self.decode(Job.self, first)
                #expect(
                    job.status == "PENDING" && !job.cached && job.input_signature.count == 64
                        && job.inputs.first?.sha256 == digest)
                // The same params in another order are the same signature; not cached yet (not completed): a new job.
                let reordered =
                    #"{"pipeline_version_id":"\#(version)","dispatch":"manual","params":{"a":[true,null],"b":1},"inputs":[{"name":"ligand","uri":"s3://x/l.sdf","content_type":"chemical/x-mdl-sdfile","sha256":"\#(digest)"}]}"#
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
