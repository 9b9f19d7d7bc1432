import Foundation
import Hummingbird
import HummingbirdTesting
import TesseraPostgres
import TesseraTestSupport
import Testing

@testable import TesseraCore
@testable import TesseraEvaluation
@testable import TesseraGateway

/// Run evaluations through the API, against numbers scikit-learn computed (Tests/Fixtures/classification.json).
@Suite struct RunEvaluationTests {
    static let logger = TestDatabase.logger

    struct Evaluation: Decodable {
        struct Label: Decodable {
            let label: String
            let precision, recall, f1: Double
            let support: Int
        }
        struct Average: Decodable { let precision, recall, f1: Double }
        struct Matrix: Decodable {
            let labels: [String]
            let matrix: [[Int]]
            let unanswered: [Int]
        }
        struct Latency: Decodable {
            let count: Int
            let mean, p50, p95, p99: Double?
        }
        struct Options: Decodable {
            let extract: String?
            let case_fold, trim, strip_punctuation, exclude_failed: Bool
            let label_map: [String: String]
        }
        let id, run_id, dataset_id, run_status: String
        let options: Options
        let rows, succeeded, failed, missing, unparsed, samples: Int
        let coverage, failure_rate, accuracy: Double
        let labels: [Label]
        let macro, micro, weighted: Average
        let confusion_matrix: Matrix
        let latency: Latency
    }

    struct Board: Decodable {
        struct Entry: Decodable {
            struct Named: Decodable { let id, name: String }
            let rank: Int
            let run_id: String
            let model, prompt: Named
            let value: Double?
            let coverage: Double
        }
        let metric: String
        let items: [Entry]
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer: response.body))
    }

    static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 }

    /// A run over a dataset with the fixture's true labels as " Label" (trim and case folding needed), answered
    /// "The answer is: LABEL." (the label needs extracting); an unanswered sample is a failure or an output with
    /// no answer in it, alternately. Rows without an entry in `answered` get no prediction at all.
    static func evaluatedRun(
        _ calls: OrgCalls, dataset: String, model: String, prompt: String, truth: [String], predicted: [String?],
        latencies: [Double],
        answered: Set<Int>? = nil
    ) async throws -> String {
        let run = try await calls.create(
            "/runs", #"{"model_id":"\#(model)","prompt_id":"\#(prompt)","dataset_id":"\#(dataset)"}"#)
        let claim = try decode(
            PredictionResultTests.Claim.self, try await calls.post("/runs/\(run)/claim", #"{"limit":1000}"#))
        var results: [String] = []
        for item in claim.items {
            let i = Int(item.prompt.dropFirst())!
            if let answered, !answered.contains(i) { continue }
            let latency = #""latency_seconds":\#(latencies[i])"#
            if let label = predicted[i] {
                let shown = i % 2 == 0 ? label.uppercased() : label
                results.append(
                    #"{"work_item_id":"\#(item.work_item_id)","status":"succeeded","output":"The answer is: \#(shown).",\#(latency)}"#
                )
            } else if i % 2 == 0 {
                results.append(
                    #"{"work_item_id":"\#(item.work_item_id)","status":"failed","error":"timeout",\#(latency)}"#)
            } else {
                results.append(
                    #"{"work_item_id":"\#(item.work_item_id)","status":"succeeded","output":"I cannot say",\#(latency)}"#
                )
            }
        }
        let submitted = try await calls.post(
            "/runs/\(run)/predictions",
            #"{"lease_id":"\#(claim.lease_id)","results":[\#(results.joined(separator: ","))]}"#)
        #expect(submitted.status == .ok, "\(String(buffer: submitted.body))")
        return run
    }

    static func dataset(_ calls: OrgCalls, truth: [String]) async throws -> String {
        let dataset = try await calls.create("/datasets", #"{"name":"labels","fields":["text"]}"#)
        let lines = truth.enumerated().map { i, label in
            #"{"content":{"text":"r\#(i)"},"expected_prediction":" \#(label.capitalized) "}"#
        }
        #expect(
            try await calls.post(
                "/datasets/\(dataset)/rows", lines.joined(separator: "\n"), contentType: "application/x-ndjson"
            ).status
                == .ok)
        return dataset
    }

    static let options = #"{"extract":"answer is:\\s*(\\w+)","case_fold":true}"#

    @Test func runMetricsEqualScikitLearnsAndAreStoredWithTheirOptions() async throws {
        let fixture = try #require(try ClassificationFixture.load().cases.first { $0.name == "random" })
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("evals")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let dataset = try await Self.dataset(calls, truth: fixture.truth)
                let model = try await calls.create("/models", #"{"name":"m","source":"ollama"}"#)
                let prompt = try await calls.create("/prompts", #"{"name":"p","template":"{{text}}"}"#)
                let run = try await Self.evaluatedRun(
                    calls, dataset: dataset, model: model, prompt: prompt, truth: fixture.truth,
                    predicted: fixture.predicted,
                    latencies: fixture.latencies)

                let created = try await calls.post("/runs/\(run)/evaluations", Self.options)
                #expect(created.status == .created, "\(String(buffer: created.body))")
                let e = try Self.decode(Evaluation.self, created)
                let x = fixture.expected
                #expect(e.rows == 400 && e.samples == 400 && e.missing == 0 && e.run_status == "done")
                let unanswered = fixture.predicted.enumerated().filter { $0.element == nil }.map(\.offset)
                #expect(
                    e.failed == unanswered.filter { $0 % 2 == 0 }.count
                        && e.unparsed == unanswered.filter { $0 % 2 == 1 }.count)
                #expect(
                    Self.close(e.coverage, Double(400 - e.failed) / 400)
                        && Self.close(e.failure_rate, Double(e.failed) / 400))
                #expect(e.labels.map(\.label) == x.labels && e.confusion_matrix.labels == x.labels)
                #expect(Self.close(e.accuracy, x.accuracy))
                #expect(zip(e.labels.map(\.precision), x.precision).allSatisfy(Self.close))
                #expect(zip(e.labels.map(\.recall), x.recall).allSatisfy(Self.close))
                #expect(zip(e.labels.map(\.f1), x.f1).allSatisfy(Self.close))
                #expect(e.labels.map(\.support) == x.support)
                for (mine, theirs) in [(e.macro, x.macro), (e.micro, x.micro), (e.weighted, x.weighted)] {
                    #expect(
                        Self.close(mine.precision, theirs.precision) && Self.close(mine.recall, theirs.recall)
                            && Self.close(mine.f1, theirs.f1))
                }
                #expect(e.confusion_matrix.matrix == x.confusion_matrix)
                #expect(e.confusion_matrix.unanswered.reduce(0, +) == unanswered.count)
                #expect(e.latency.count == 400)
                #expect(Self.close(e.latency.mean!, x.latency.mean) && Self.close(e.latency.p50!, x.latency.p50))
                #expect(Self.close(e.latency.p95!, x.latency.p95) && Self.close(e.latency.p99!, x.latency.p99))
                #expect(
                    e.options.extract == "answer is:\\s*(\\w+)" && e.options.case_fold && e.options.trim
                        && !e.options.exclude_failed)

                // Stored as computed: GET gives the same numbers and options.
                let stored = try Self.decode(Evaluation.self, try await calls.get("/evaluations/\(e.id)"))
                #expect(
                    stored.accuracy == e.accuracy && stored.macro.f1 == e.macro.f1
                        && stored.confusion_matrix.matrix == e.confusion_matrix.matrix)
                #expect(stored.options.extract == e.options.extract)

                // Excluding the unanswered: only answered samples are scored.
                let excluded = try Self.decode(
                    Evaluation.self,
                    try await calls.post(
                        "/runs/\(run)/evaluations",
                        #"{"extract":"answer is:\\s*(\\w+)","case_fold":true,"exclude_failed":true}"#))
                let answered = zip(fixture.truth, fixture.predicted).filter { $0.1 != nil }
                #expect(excluded.samples == answered.count)
                #expect(
                    Self.close(
                        excluded.accuracy, Double(answered.filter { $0.0 == $0.1 }.count) / Double(answered.count)))

                // Without case folding nothing matches (" Alpha" is not "alpha"): the options matter and are kept apart.
                let strict = try Self.decode(
                    Evaluation.self,
                    try await calls.post("/runs/\(run)/evaluations", #"{"extract":"answer is:\\s*(\\w+)"}"#))
                #expect(strict.accuracy < e.accuracy)

                // Listed oldest first, in pages.
                struct List: Decodable {
                    let items: [Evaluation]
                    let next_cursor: String?
                }
                let first = try Self.decode(List.self, try await calls.get("/runs/\(run)/evaluations?limit=2"))
                #expect(first.items.map(\.id) == [e.id, excluded.id])
                let cursor = try #require(first.next_cursor)
                let second = try Self.decode(
                    List.self, try await calls.get("/runs/\(run)/evaluations?limit=2&cursor=\(cursor)"))
                #expect(second.items.map(\.id) == [strict.id] && second.next_cursor == nil)

                // Bad input: 422 and nothing stored; unknown run or evaluation: 404.
                #expect(
                    try await calls.post("/runs/\(run)/evaluations", #"{"extract":"(unclosed"}"#).status
                        == .unprocessableContent)
                #expect(try await calls.post("/runs/\(UUID())/evaluations", "{}").status == .notFound)
                #expect(try await calls.get("/evaluations/\(UUID())").status == .notFound)
                #expect(try Self.decode(List.self, try await calls.get("/runs/\(run)/evaluations")).items.count == 3)

                // Immutable, even for the org's own role.
                let (placement, server, password) = try await env.placement(org)
                await #expect(throws: (any Error).self) {
                    try await server.withOrgConnection(placement.name, password: password, logger: Self.logger) {
                        try await $0.query("UPDATE run_evaluations SET accuracy = 1", logger: Self.logger)
                    }
                }
                // Every evaluation left its audit record.
                try await waitUntil(timeout: .seconds(5)) {
                    let count = try await env.client.withConnection { connection in
                        try await connection.query(
                            "SELECT count(*) FROM audit_logs WHERE org_id = \(org) AND action = 'evaluation.create' AND entity_type = 'run_evaluation'",
                            logger: Self.logger
                        ).collect()[0].decode(Int.self)
                    }
                    return count == 3
                }

                // The rows are read in batches as they arrive: batches of 7 come to what one batch of all does.
                let repository = PredictionRepository(
                    org: org,
                    databases: TenantDatabases(
                        metadata: env.client, box: env.box, settings: env.settings, logger: Self.logger),
                    logger: Self.logger)
                var results: [RunMetrics] = []
                for size in [7, 1_000_000] {
                    let tally = RunTally(try LabelNormalizer(.init(caseFold: true)))
                    let record = try await repository.evaluate(
                        run: UUID(uuidString: run)!, options: .init(caseFold: true), createdBy: nil,
                        audit: AuditEvent(org: org, actorKind: .system, action: .evaluationCreate),
                        batchSize: size, batch: { tally.add($0) }, metrics: { try tally.metrics() })
                    results.append(try #require(record).metrics)
                }
                #expect(results[0] == results[1] && results[0].rows == fixture.truth.count)
            }
        }
    }

    @Test func leaderboardRanksEveryEvaluatedRunByItsLatestEvaluation() async throws {
        let truth = ["a", "b", "a", "b", "a", "b", "a", "b"]
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("board")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let dataset = try await Self.dataset(calls, truth: truth)
                let prompt = try await calls.create("/prompts", #"{"name":"p","template":"{{text}}"}"#)
                let good = try await calls.create("/models", #"{"name":"good","source":"ollama"}"#)
                let fair = try await calls.create("/models", #"{"name":"fair","source":"ollama"}"#)
                let slow = try await calls.create("/models", #"{"name":"slow","source":"ollama"}"#)
                let unevaluated = try await calls.create("/models", #"{"name":"none","source":"ollama"}"#)
                // good: 8/8 right in 0.1 s; fair: 6/8 in 0.5 s; slow: 8/8 of which only 4 answered (others missing) in 2 s.
                let runGood = try await Self.evaluatedRun(
                    calls, dataset: dataset, model: good, prompt: prompt, truth: truth, predicted: truth,
                    latencies: Array(repeating: 0.1, count: 8))
                var fairAnswers: [String?] = truth
                fairAnswers[0] = "b"
                fairAnswers[1] = "a"
                let runFair = try await Self.evaluatedRun(
                    calls, dataset: dataset, model: fair, prompt: prompt, truth: truth, predicted: fairAnswers,
                    latencies: Array(repeating: 0.5, count: 8))
                let runSlow = try await Self.evaluatedRun(
                    calls, dataset: dataset, model: slow, prompt: prompt, truth: truth, predicted: truth,
                    latencies: Array(repeating: 2, count: 8),
                    answered: [0, 1, 2, 3])
                _ = try await Self.evaluatedRun(
                    calls, dataset: dataset, model: unevaluated, prompt: prompt, truth: truth, predicted: truth,
                    latencies: Array(repeating: 1, count: 8))
                // fair is evaluated twice: first without case folding (0 right), then with; the latest counts.
                #expect(
                    try await calls.post("/runs/\(runFair)/evaluations", #"{"extract":"answer is:\\s*(\\w+)"}"#).status
                        == .created)
                for run in [runGood, runFair, runSlow] {
                    #expect(try await calls.post("/runs/\(run)/evaluations", Self.options).status == .created)
                }

                let byAccuracy = try Self.decode(Board.self, try await calls.get("/datasets/\(dataset)/leaderboard"))
                #expect(byAccuracy.metric == "accuracy")
                #expect(byAccuracy.items.map(\.run_id) == [runGood, runFair, runSlow])
                #expect(byAccuracy.items.map(\.value) == [1, 0.75, 0.5] && byAccuracy.items.map(\.rank) == [1, 2, 3])
                #expect(
                    byAccuracy.items.map(\.model.name) == ["good", "fair", "slow"]
                        && byAccuracy.items[0].prompt.name == "p")
                #expect(byAccuracy.items.map(\.coverage) == [1, 1, 0.5])

                let byLatency = try Self.decode(
                    Board.self, try await calls.get("/datasets/\(dataset)/leaderboard?metric=latency_p50"))
                #expect(
                    byLatency.items.map(\.run_id) == [runGood, runFair, runSlow]
                        && byLatency.items.map(\.value) == [0.1, 0.5, 2])
                let byCoverage = try Self.decode(
                    Board.self, try await calls.get("/datasets/\(dataset)/leaderboard?metric=coverage&limit=2"))
                #expect(
                    byCoverage.items.map(\.rank) == [1, 1] && Set(byCoverage.items.map(\.run_id)) == [runGood, runFair])

                #expect(try await calls.get("/datasets/\(dataset)/leaderboard?metric=vibes").status == .badRequest)
                #expect(try await calls.get("/datasets/\(UUID())/leaderboard").status == .notFound)
            }
        }
    }
}
