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
        try await TenantEnv.with { env in
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
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("reaper")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let (run, claim) = try await Self.claimedRun(
                    calls, expected: Array(repeating: "a", count: 7))
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
                let reaper = LeaseReaper(tenants: tenants, interval: .seconds(60), logger: Self.logger)
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

/// One dataset, model or prompt read by id, and deleted when no run uses it (409 naming how many do), audited.
@Suite struct RunInputReadAndDeleteTests {
    static let logger = TestDatabase.logger

    struct Named: Decodable, Equatable {
        let id: String
        let name: String
    }

    struct RunList: Decodable {
        struct Run: Decodable {
            let id: String
            let dataset_id: String
            let model_id: String
            let status: String
        }
        let items: [Run]
        let next_cursor: String?
    }

    struct RowList: Decodable {
        struct Row: Decodable {
            let position: Int
            let content: [String: String]
            let expected_prediction: String?
        }
        let items: [Row]
        let next_cursor: String?
    }

    @Test func aDatasetsRowsAreListedInOrderByPages() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("row-listing")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let dataset = try await calls.create("/datasets", #"{"name":"d","fields":["text"]}"#)
                let lines = (0..<5).map { i in
                    i % 2 == 0
                        ? #"{"content":{"text":"r\#(i) \"quoted\""},"expected_prediction":"e\#(i)"}"#
                        : #"{"content":{"text":"r\#(i)"}}"#
                }
                #expect(
                    try await calls.post(
                        "/datasets/\(dataset)/rows", lines.joined(separator: "\n"), contentType: "application/x-ndjson"
                    ).status == .ok)
                var rows: [RowList.Row] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let response = try await calls.get(
                        "/datasets/\(dataset)/rows?limit=2\(cursor.map { "&cursor=\($0)" } ?? "")")
                    #expect(response.status == .ok)
                    let page = try JSONDecoder().decode(RowList.self, from: Data(buffer: response.body))
                    rows += page.items
                    cursor = page.next_cursor
                    pages += 1
                } while cursor != nil && pages < 10
                #expect(pages == 3)
                #expect(rows.map(\.position) == [0, 1, 2, 3, 4])
                #expect(
                    rows.map { $0.content["text"] } == ["r0 \"quoted\"", "r1", "r2 \"quoted\"", "r3", "r4 \"quoted\""])
                #expect(rows.map(\.expected_prediction) == ["e0", nil, "e2", nil, "e4"])
                #expect(try await calls.get("/datasets/\(UUID())/rows").status == .notFound)
                #expect(try await calls.get("/datasets/\(dataset)/rows?cursor=x").status == .badRequest)
                #expect(try await calls.get("/datasets/\(dataset)/rows?limit=1001").status == .badRequest)
            }
        }
    }

    @Test func runsAreListedOldestFirstByWhatTheyRanAndTheirStatus() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("run-listing")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let (running, _) = try await PredictionResultTests.claimedRun(calls, expected: ["a"])
                func list(_ query: String) async throws -> RunList {
                    let response = try await calls.get("/runs\(query)")
                    #expect(response.status == .ok, "\(query)")
                    return try JSONDecoder().decode(RunList.self, from: Data(buffer: response.body))
                }
                let first = try await list("").items[0]
                let (dataset, model) = (first.dataset_id, first.model_id)
                let prompt = try await calls.create("/prompts", #"{"name":"p2","template":"{{text}}"}"#)
                let other = try await calls.create("/datasets", #"{"name":"d2","fields":["text"]}"#)
                #expect(
                    try await calls.post(
                        "/datasets/\(other)/rows", #"{"content":{"text":"x"}}"#, contentType: "application/x-ndjson"
                    ).status == .ok)
                let pending = try await calls.create(
                    "/runs", #"{"model_id":"\#(model)","prompt_id":"\#(prompt)","dataset_id":"\#(other)"}"#)
                let cancelled = try await calls.create(
                    "/runs", #"{"model_id":"\#(model)","prompt_id":"\#(prompt)","dataset_id":"\#(dataset)"}"#)
                #expect(try await calls.post("/runs/\(cancelled)/cancel", "").status == .ok)

                #expect(try await list("").items.map(\.id) == [running, pending, cancelled])
                #expect(try await list("?dataset_id=\(dataset)").items.map(\.id) == [running, cancelled])
                #expect(try await list("?dataset_id=\(dataset)&status=cancelled").items.map(\.id) == [cancelled])
                #expect(try await list("?status=pending").items.map(\.id) == [pending])
                #expect(try await list("?prompt_id=\(prompt)&status=running").items.isEmpty)
                #expect(try await list("?dataset_id=\(UUID())").items.isEmpty)
                let page = try await list("?model_id=\(model)&limit=2")
                #expect(page.items.map(\.id) == [running, pending])
                let cursor = try #require(page.next_cursor)
                let rest = try await list("?model_id=\(model)&limit=2&cursor=\(cursor)")
                #expect(rest.items.map(\.id) == [cancelled] && rest.next_cursor == nil)
                for bad in ["?dataset_id=nope", "?status=bogus", "?cursor=nope", "?limit=0"] {
                    #expect(try await calls.get("/runs\(bad)").status == .badRequest, "\(bad)")
                }

                // Deleting: refused while a run may still take results; a cancelled one goes with its work items,
                // and then nothing uses its prompt; an evaluated one keeps its evaluations and stays.
                let active = try await calls.send(.delete, "/runs/\(pending)")
                #expect(active.status == .conflict && String(buffer: active.body).contains("pending"))
                #expect(try await calls.send(.delete, "/prompts/\(prompt)").status == .conflict)
                #expect(try await calls.post("/runs/\(pending)/cancel", "").status == .ok)
                #expect(try await calls.send(.delete, "/runs/\(pending)").status == .noContent)
                #expect(try await calls.send(.delete, "/runs/\(cancelled)").status == .noContent)
                #expect(try await calls.get("/runs/\(cancelled)").status == .notFound)
                #expect(try await calls.send(.delete, "/runs/\(cancelled)").status == .notFound)
                #expect(try await list("").items.map(\.id) == [running])
                #expect(try await calls.send(.delete, "/prompts/\(prompt)").status == .noContent)
                #expect(try await calls.post("/runs/\(running)/cancel", "").status == .ok)
                #expect(try await calls.post("/runs/\(running)/evaluations", "{}").status == .created)
                let evaluated = try await calls.send(.delete, "/runs/\(running)")
                #expect(evaluated.status == .conflict && String(buffer: evaluated.body).contains("1 evaluation"))
                let (placement, server, password) = try await env.placement(org)
                let (records, items) = try await server.withOrgConnection(
                    placement.name, password: password, logger: Self.logger
                ) { connection in
                    let records = try await connection.query(
                        "SELECT event->>'entity_id' FROM audit_outbox WHERE event->>'action' = 'run.delete' ORDER BY seq",
                        logger: Self.logger
                    ).collect().map { try $0.decode(String.self) }
                    let items = try await connection.query(
                        "SELECT count(*) FROM work_items WHERE run_id = ANY(\([UUID(uuidString: pending)!, UUID(uuidString: cancelled)!]))",
                        logger: Self.logger
                    ).collect()[0].decode(Int.self)
                    return (records, items)
                }
                #expect(records == [pending, cancelled])
                #expect(items == 0)
            }
        }
    }

    @Test func datasetsModelsAndPromptsAreReadOneByOneAndDeletedWhenNoRunUsesThem() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("read-delete")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let (run, _) = try await PredictionResultTests.claimedRun(calls, expected: ["a", "b"])
                struct Run: Decodable {
                    let model_id: String
                    let prompt_id: String
                    let dataset_id: String
                }
                let used = try JSONDecoder().decode(
                    Run.self, from: Data(buffer: try await calls.get("/runs/\(run)").body))
                let kept = [
                    ("datasets", used.dataset_id, "d"), ("models", used.model_id, "m"),
                    ("prompts", used.prompt_id, "p"),
                ]
                for (path, id, name) in kept {
                    let one = try await calls.get("/\(path)/\(id)")
                    #expect(one.status == .ok)
                    #expect(
                        try JSONDecoder().decode(Named.self, from: Data(buffer: one.body)) == Named(id: id, name: name))
                    #expect(try await calls.get("/\(path)/\(UUID())").status == .notFound)
                    #expect(try await calls.get("/\(path)/nope").status == .notFound)  // not an id: names nothing
                    let refused = try await calls.send(.delete, "/\(path)/\(id)")
                    #expect(refused.status == .conflict)
                    #expect(String(buffer: refused.body).contains("used by 1 run"))
                    #expect(try await calls.get("/\(path)/\(id)").status == .ok)
                }

                // Unused ones go (a dataset with its rows); a second delete finds nothing.
                let dataset = try await calls.create("/datasets", #"{"name":"spare","fields":["text"]}"#)
                #expect(
                    try await calls.post(
                        "/datasets/\(dataset)/rows", #"{"content":{"text":"x"}}"#, contentType: "application/x-ndjson"
                    ).status == .ok)
                let model = try await calls.create("/models", #"{"name":"spare","source":"ollama"}"#)
                let prompt = try await calls.create("/prompts", #"{"name":"spare","template":"{{text}}"}"#)
                for (path, id) in [("datasets", dataset), ("models", model), ("prompts", prompt)] {
                    #expect(try await calls.send(.delete, "/\(path)/\(id)").status == .noContent)
                    #expect(try await calls.get("/\(path)/\(id)").status == .notFound)
                    #expect(try await calls.send(.delete, "/\(path)/\(id)").status == .notFound)
                }

                let (placement, server, password) = try await env.placement(org)
                let (records, rows) = try await server.withOrgConnection(
                    placement.name, password: password, logger: Self.logger
                ) { connection in
                    let records = try await connection.query(
                        """
                        SELECT event->>'action', event->>'entity_id', event->'metadata'->>'name' FROM audit_outbox
                        WHERE event->>'action' LIKE '%.delete' ORDER BY seq
                        """, logger: Self.logger
                    ).collect().map { try $0.decode((String, String, String).self) }
                    let rows = try await connection.query(
                        "SELECT count(*) FROM rows WHERE dataset_id = \(UUID(uuidString: dataset)!)",
                        logger: Self.logger
                    ).collect()[0].decode(Int.self)
                    return (records, rows)
                }
                #expect(rows == 0)
                #expect(records.map(\.0) == ["dataset.delete", "model.delete", "prompt.delete"])
                #expect(records.map(\.1) == [dataset, model, prompt])
                #expect(records.allSatisfy { $0.2 == "spare" })
            }
        }
    }
}
