import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TesseraCore
import Testing

@testable import TesseraGateway

/// What schemathesis found against the served contract, each kept as a test: the status codes the request chain
/// can give are documented on every operation, and the requests it sent are answered with one of them.
@Suite struct ContractTests {
    static let logger = TestDatabase.logger

    /// The chain answers 400 (bad parameters or body), 401, 403, 404, 409 (a quota, a duplicate), 413, 422, 429
    /// (failed authentications from the address) and 503 (a database down) wherever they can happen: each
    /// operation must say so.
    @Test func everyOperationDocumentsWhatTheChainCanAnswer() throws {
        let document = try OpenAPIDocument.load()
        let tree = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(document.json)) as? [String: Any])
        let paths = try #require(tree["paths"] as? [String: [String: Any]])
        var lacking: [String] = []
        for (path, item) in paths {
            for (method, value) in item where OpenAPIDocument.httpMethods.contains(method) {
                let operation = try #require(value as? [String: Any])
                let permission = operation["x-tessera-permission"] as? String
                let parameters = (item["parameters"] as? [Any] ?? []) + (operation["parameters"] as? [Any] ?? [])
                var needed: Set<String> = []
                if !parameters.isEmpty || operation["requestBody"] != nil { needed.insert("400") }
                if operation["requestBody"] != nil { needed.formUnion(["413", "422"]) }
                if operation["requestBody"] != nil && method == "post" { needed.insert("409") }  // quotas, duplicates
                if permission != "public" { needed.formUnion(["401", "429", "503"]) }
                if permission != "public" && permission != "authenticated" { needed.insert("403") }
                if path.contains("{") { needed.insert("404") }
                let documented = Set((operation["responses"] as? [String: Any] ?? [:]).keys)
                for code in needed.subtracting(documented).sorted() { lacking.append("\(method) \(path): \(code)") }
            }
        }
        #expect(lacking.isEmpty, "\(lacking.sorted())")
    }

    @Test func whatSchemathesisSentIsAnsweredWithADocumentedCode() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("contract")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                // A boolean query parameter that is not one: 400, not an undocumented code.
                let purge = try await client.execute(
                    uri: "/v1/orgs/\(org)?purge=null", method: .delete, headers: calls.headers)
                #expect(purge.status == .badRequest, "\(String(buffer: purge.body))")
                // A grace period past its maximum: the documented 422.
                let rotate = try await calls.post("/api-keys/\(UUID())/rotate", #"{"grace_seconds":1e15}"#)
                #expect(rotate.status == .unprocessableContent, "\(String(buffer: rotate.body))")
                // Two identical prompts at once: one is created, the other is a conflict, neither waits.
                let clock = ContinuousClock()
                var statuses: [HTTPResponse.Status] = []
                let elapsed = try await clock.measure {
                    statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                        for _ in 0..<2 {
                            group.addTask { try await calls.post("/prompts", #"{"name":"0","template":""}"#).status }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                }
                #expect(Set(statuses) == [.created, .conflict], "\(statuses)")
                #expect(elapsed < .seconds(5), "two prompts took \(elapsed)")
                // NUL characters where schemathesis found 500s.
                let prompt = try await calls.post("/prompts", #"{"name":"n","template":"a\u0000"}"#)
                #expect(prompt.status == .badRequest && String(buffer: prompt.body).contains("template"))
            }
        }
    }
}
