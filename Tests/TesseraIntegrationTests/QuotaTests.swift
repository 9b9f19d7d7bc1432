import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// Org quotas: set by a platform admin, shown with the org, and enforced where each thing is created with a
/// 409 quota-exceeded problem that names the quota, its limit and the use; nothing is half written.
@Suite struct QuotaTests {
    struct QuotaProblem: Decodable {
        let type: String
        let status: Int
        let quota: String?
        let limit: Int?
        let used: Int?
    }

    static func refused(_ response: TestResponse, _ quota: String, limit: Int, used: Int) throws {
        #expect(response.status == .conflict)
        let problem = try JSONDecoder().decode(QuotaProblem.self, from: Data(buffer: response.body))
        #expect(problem.type.hasSuffix("/quota-exceeded"), "\(problem)")
        #expect(problem.quota == quota && problem.limit == limit && problem.used == used, "\(problem)")
    }

    @Test func everyQuotaIsEnforcedWhereTheThingIsCreated() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("quotas")
            let app = try buildApplication(settings: env.settings, logger: TestDatabase.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let set = try await client.execute(
                    uri: "/v1/orgs/\(org)/quotas", method: .put,
                    headers: [.authorization: "Bearer \(platform.plaintext)", .contentType: "application/json"],
                    body: ByteBuffer(
                        string:
                            #"{"members":1,"api_keys":1,"dataset_rows":3,"artifact_bytes":100,"concurrent_runs":1}"#))
                #expect(set.status == .ok)
                let shown = try await client.execute(
                    uri: "/v1/orgs/\(org)", method: .get, headers: [.authorization: "Bearer \(platform.plaintext)"])
                #expect(String(buffer: shown.body).contains(#""quotas":{"api_keys":1,"artifact_bytes":100"#))
                // A negative quota is refused by the contract.
                #expect(
                    try await client.execute(
                        uri: "/v1/orgs/\(org)/quotas", method: .put,
                        headers: [.authorization: "Bearer \(platform.plaintext)", .contentType: "application/json"],
                        body: ByteBuffer(string: #"{"members":-1}"#)
                    ).status.code / 100 == 4)

                // Members: one allowed (the org has no owner yet), a second refused.
                #expect(
                    try await calls.post("/members", #"{"email":"a@example.test","roles":["viewer"]}"#).status
                        == .created)
                try Self.refused(
                    try await calls.post("/members", #"{"email":"b@example.test","roles":["viewer"]}"#), "members",
                    limit: 1, used: 1)
                // API keys.
                #expect(try await calls.post("/api-keys", #"{"name":"one","role":"viewer"}"#).status == .created)
                try Self.refused(
                    try await calls.post("/api-keys", #"{"name":"two","role":"viewer"}"#), "api_keys", limit: 1, used: 1
                )
                // Dataset rows: all or nothing.
                let dataset = try await calls.create("/datasets", #"{"name":"d","fields":["text"]}"#)
                let three = (1...3).map { #"{"content":{"text":"row \#($0)"}}"# }.joined(separator: "\n")
                #expect(
                    try await calls.post("/datasets/\(dataset)/rows", three, contentType: "application/x-ndjson").status
                        == .ok)
                try Self.refused(
                    try await calls.post(
                        "/datasets/\(dataset)/rows", #"{"content":{"text":"one more"}}"#,
                        contentType: "application/x-ndjson"), "dataset_rows", limit: 3, used: 3)
                #expect(String(buffer: try await calls.get("/datasets").body).contains(#""row_count":3"#))
                // Concurrent runs: one at a time; a cancelled run frees its place.
                let model = try await calls.create("/models", #"{"name":"m","source":"test"}"#)
                let prompt = try await calls.create("/prompts", #"{"name":"p","template":"{{text}}"}"#)
                let runBody = #"{"model_id":"\#(model)","prompt_id":"\#(prompt)","dataset_id":"\#(dataset)"}"#
                let run = try await calls.create("/runs", runBody)
                try Self.refused(try await calls.post("/runs", runBody), "concurrent_runs", limit: 1, used: 1)
                #expect(try await calls.post("/runs/\(run)/cancel", "").status == .ok)
                #expect(try await calls.post("/runs", runBody).status == .created)
                // Artifact bytes: job outputs' sizes.
                let version = try await JobAndPipelineTests.publishedPipeline(calls)
                let job = try await calls.create("/jobs", #"{"pipeline_version_id":"\#(version)","params":{}}"#)
                let output = { (name: String, size: Int) in
                    #"{"name":"\#(name)","uri":"s3://x/\#(name)","content_type":"text/plain","size_bytes":\#(size)}"#
                }
                #expect(try await calls.post("/jobs/\(job)/outputs", output("a", 60)).status == .created)
                try Self.refused(
                    try await calls.post("/jobs/\(job)/outputs", output("b", 41)), "artifact_bytes", limit: 100,
                    used: 60)
                #expect(try await calls.post("/jobs/\(job)/outputs", output("c", 40)).status == .created)

                let records = try await env.client.withConnection {
                    try await $0.query(
                        "SELECT count(*)::int FROM audit_logs WHERE action = 'org.quotas_set' AND org_id = \(org)",
                        logger: TestDatabase.logger
                    ).collect()[0].decode(Int.self)
                }
                #expect(records == 1)
            }
        }
    }
}
