import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// The job engine against a real task service process (`provisioning/task-test-service`) and a gateway serving on
/// loopback (task services report to the address it listens on: `work.callback_base_url` is left empty).
@Suite struct JobEngineTests {
    static let logger = TestDatabase.logger

    /// One document for every definition: each calls one of its operations (service_config.operation). Each
    /// operation takes the engine's request and answers `{"step", "total"}` (total a number).
    static let spec = #"""
        {"openapi":"3.1.0","info":{"title":"test service","version":"1"},
         "components":{"schemas":{
           "Request":{"type":"object","required":["job_id","execution_id","step_key","attempt","params","inputs","files","callback_url"],
             "properties":{"attempt":{"type":"integer","minimum":1},"params":{"type":"object"},"inputs":{"type":"object"},"files":{"type":"array"}}},
           "Answer":{"type":"object","required":["total"],"properties":{"total":{"type":"number"}}}}},
         "paths":{
           "/sum":{"post":{"operationId":"sum","requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Request"}}}},
             "responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Answer"}}}}}}},
           "/flaky":{"post":{"operationId":"flaky","responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Answer"}}}}}}},
           "/fail":{"post":{"operationId":"fail","responses":{"200":{"description":"ok"}}}},
           "/slow":{"post":{"operationId":"slow","responses":{"200":{"description":"ok"}}}},
           "/bad-answer":{"post":{"operationId":"badAnswer","responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Answer"}}}}}}},
           "/async":{"post":{"operationId":"async","responses":{"202":{"description":"accepted"},"200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Answer"}}}}}}},
           "/hang":{"post":{"operationId":"hang","responses":{"200":{"description":"ok"}}}},
           "/cancel/{execution_id}":{"post":{"operationId":"cancel","parameters":[{"name":"execution_id","in":"path","required":true,"schema":{"type":"string"}}],
             "responses":{"204":{"description":"cancelled"}}}}}}
        """#

    struct Job: Decodable {
        let id: String
        let status: String
        let error: String?
        let cached: Bool
    }
    struct Execution: Decodable {
        let id: String
        let step_key: String
        let status: String
        let attempt: Int
        let error: String?
    }
    struct Result: Decodable { let result: [String: JSONNumberOrString] }
    enum JSONNumberOrString: Decodable, Equatable {
        case number(Double)
        case text(String)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else {
                self = .text(try container.decode(String.self))
            }
        }
    }
    struct Call: Decodable {
        let path: String
        let step: String?
        let execution_id: String?
        let attempt: Int?
        let at: Double
    }
    struct Event: Decodable {
        let kind: String
        let data: [String: String]
    }
    struct Page<T: Decodable>: Decodable { let items: [T] }

    @Test func aJobRunsItsStepsInDependencyOrderAndASecondOneIsAnsweredFromTheStepCache() async throws {
        try await Self.withEngine { env, calls, service in
            try await Self.definition(calls, "sum", config: #"{"operation":"sum"}"#, service: service)
            // a → (b, c) → d, each adding its inputs' totals to params.n.
            let version = try await Self.pipeline(
                calls, "diamond",
                [("a", "sum", []), ("b", "sum", ["a"]), ("c", "sum", ["a"]), ("d", "sum", ["b", "c"])])
            let body = #"{"pipeline_version_id":"\#(version)","params":{"n":1},"cache_seconds":0}"#
            let first = try await Self.finished(calls, try await calls.create("/jobs", body))
            #expect(first.status == "COMPLETED", "\(first)")
            let executions = try await Self.executions(calls, first.id)
            #expect(executions.map(\.status) == ["COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"])
            #expect(try await Self.total(calls, first.id, executions.first { $0.step_key == "d" }!) == 5)
            // The service saw a first, then b and c, then d.
            let seen = try await Self.calls(service).filter { $0.path == "/sum" }
            #expect(seen.count == 4)
            let at = Dictionary(uniqueKeysWithValues: seen.map { ($0.step ?? "", $0.at) })
            #expect(at["a"]! < at["b"]! && at["a"]! < at["c"]! && at["b"]! < at["d"]! && at["c"]! < at["d"]!)
            // The timeline and the audit log record every transition, by the engine.
            let kinds = try JSONDecoder().decode(
                Page<Event>.self, from: Data(buffer: try await calls.get("/jobs/\(first.id)/events?limit=200").body)
            ).items.map(\.kind)
            #expect(kinds.filter { $0 == "execution_created" }.count == 4)
            #expect(kinds.filter { $0 == "execution_status" }.count == 8)
            #expect(kinds.filter { $0 == "status" }.count == 2)
            let audited = try await Self.auditCount(env, calls.org, actor: "job engine")
            #expect(audited >= 4 + 8 + 2, "\(audited)")

            // The same request again: a new job (cache_seconds 0 kept the first out of the job cache), every step
            // answered from the step cache, no call made.
            let second = try await Self.finished(calls, try await calls.create("/jobs", body))
            #expect(second.status == "COMPLETED" && second.id != first.id)
            let afterSecond = try await Self.calls(service)
            let secondEvents = String(buffer: try await calls.get("/jobs/\(second.id)/events?limit=200").body)
            #expect(afterSecond.filter { $0.path == "/sum" }.count == 4, "\(afterSecond) \(secondEvents)")
            let hits = try JSONDecoder().decode(
                Page<Event>.self, from: Data(buffer: try await calls.get("/jobs/\(second.id)/events?limit=200").body)
            ).items.filter { $0.data["cache_hit"] == "true" }
            #expect(hits.count == 4)
            let cachedD = try await Self.executions(calls, second.id).first { $0.step_key == "d" }!
            #expect(try await Self.total(calls, second.id, cachedD) == 5)
            // cache: false calls the service again.
            let third = try await Self.finished(
                calls,
                try await calls.create(
                    "/jobs", #"{"pipeline_version_id":"\#(version)","params":{"n":1},"cache_seconds":0,"cache":false}"#
                ))
            #expect(third.status == "COMPLETED")
            #expect(try await Self.calls(service).filter { $0.path == "/sum" }.count == 8)
            // Other params: other requests, called.
            let fourth = try await Self.finished(
                calls, try await calls.create("/jobs", #"{"pipeline_version_id":"\#(version)","params":{"n":2}}"#))
            let fourthD = try await Self.executions(calls, fourth.id).first { $0.step_key == "d" }!
            #expect(try await Self.total(calls, fourth.id, fourthD) == 10)
            // A step marked cache: false is called every time, whatever the job says.
            let uncached = try await calls.create("/pipelines", #"{"name":"uncached"}"#)
            let uncachedVersion = try JSONDecoder().decode(
                JobAndPipelineTests.Version.self,
                from: Data(
                    buffer: try await calls.post(
                        "/pipelines/\(uncached)/versions",
                        #"{"steps":[{"key":"u","task":"sum","version":"1.0.0","cache":false}]}"#
                    ).body)
            ).id
            #expect(try await calls.post("/pipelines/\(uncached)/versions/1/publish", "").status == .ok)
            let before = try await Self.calls(service).filter { $0.path == "/sum" }.count
            for _ in 0..<2 {
                let run = try await Self.finished(
                    calls,
                    try await calls.create(
                        "/jobs", #"{"pipeline_version_id":"\#(uncachedVersion)","params":{"n":7},"cache_seconds":0}"#))
                #expect(run.status == "COMPLETED")
            }
            #expect(try await Self.calls(service).filter { $0.path == "/sum" }.count == before + 2)
            // An engine job is not moved by hand, only cancelled.
            #expect(
                try await calls.post("/jobs/\(fourth.id)/executions", #"{"step_key":"x"}"#).status == .conflict)
        }
    }

    @Test func retriesTimeoutsAndFailuresEndJobsNamingTheStepAndTheAnswer() async throws {
        try await Self.withEngine { env, calls, service in
            try await Self.definition(
                calls, "flaky", config: #"{"operation":"flaky","retries":3,"backoff_seconds":0.1}"#, service: service)
            try await Self.definition(
                calls, "fail", config: #"{"operation":"fail","retries":1,"backoff_seconds":0.1}"#, service: service)
            try await Self.definition(
                calls, "slow", config: #"{"operation":"slow","timeout_seconds":1}"#, service: service)
            try await Self.definition(calls, "bad", config: #"{"operation":"badAnswer"}"#, service: service)
            try await Self.definition(calls, "after", config: #"{"operation":"sum"}"#, service: service)

            // 503 twice, then an answer: three attempts, the job completes.
            let flaky = try await Self.pipeline(calls, "flaky", [("s", "flaky", [])])
            let warmed = try await Self.finished(
                calls, try await calls.create("/jobs", #"{"pipeline_version_id":"\#(flaky)","params":{"n":3}}"#))
            #expect(warmed.status == "COMPLETED")
            let attempts = try await Self.executions(calls, warmed.id)
            #expect(attempts.map(\.status) == ["FAILED", "FAILED", "COMPLETED"])
            #expect(attempts[0].error?.contains("HTTP 503: warming up") == true, "\(attempts)")

            // 500 on both attempts: the job fails naming the step and the service's answer; the next step never runs.
            let failing = try await Self.pipeline(
                calls, "failing", [("store", "fail", []), ("next", "after", ["store"])])
            let failed = try await Self.finished(
                calls, try await calls.create("/jobs", #"{"pipeline_version_id":"\#(failing)"}"#))
            #expect(failed.status == "FAILED")
            #expect(failed.error == "step 'store' failed: HTTP 500: disk full on node 7", "\(failed)")
            #expect(try await Self.executions(calls, failed.id).map(\.step_key) == ["store", "store"])

            // No answer within the definition's timeout.
            let slow = try await Self.pipeline(calls, "slow", [("wait", "slow", [])])
            let timedOut = try await Self.finished(
                calls, try await calls.create("/jobs", #"{"pipeline_version_id":"\#(slow)","params":{"sleep":5}}"#))
            #expect(
                timedOut.status == "FAILED" && timedOut.error == "step 'wait' failed: no answer within 1 s",
                "\(timedOut)")

            // An answer the interface_spec does not describe fails the step, without retries.
            let bad = try await Self.pipeline(calls, "bad", [("answer", "bad", [])])
            let refused = try await Self.finished(
                calls, try await calls.create("/jobs", #"{"pipeline_version_id":"\#(bad)"}"#))
            #expect(refused.status == "FAILED")
            #expect(refused.error?.contains("does not match the interface_spec") == true, "\(refused)")
            _ = env
        }
    }

    @Test func callbacksCancelsAndTheCaps() async throws {
        try await Self.withEngine(maxRunning: 2) { env, calls, service in
            try await Self.definition(
                calls, "async", config: #"{"operation":"async","timeout_seconds":30}"#, service: service)
            try await Self.definition(
                calls, "hang", config: #"{"operation":"hang","cancel_operation":"cancel"}"#, service: service)
            try await Self.definition(calls, "sum", config: #"{"operation":"sum"}"#, service: service)

            // 202, then the service reports to its callback URL; the job completes with the reported result.
            let later = try await Self.pipeline(calls, "later", [("far", "async", []), ("near", "sum", ["far"])])
            let reported = try await Self.finished(
                calls, try await calls.create("/jobs", #"{"pipeline_version_id":"\#(later)","params":{"n":4}}"#))
            let reportedEvents = String(buffer: try await calls.get("/jobs/\(reported.id)/events?limit=200").body)
            #expect(reported.status == "COMPLETED", "\(reported) \(reportedEvents)")
            let near = try #require(try await Self.executions(calls, reported.id).first { $0.step_key == "near" })
            #expect(try await Self.total(calls, reported.id, near) == 8)
            // A report nobody waits for, or with a token that is not the execution's, is a 404.
            let far = try await Self.executions(calls, reported.id).first { $0.step_key == "far" }!
            let forged = "\(calls.org.uuidString.lowercased()).\(far.id).\(String(repeating: "0", count: 64))"
            let answer = try await calls.client.execute(
                uri: "/v1/task-callbacks/\(forged)", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"status":"completed","result":{"total":1}}"#))
            #expect(answer.status == .notFound)
            // Neither the problem document nor the access line shows the token's secret.
            #expect(!String(buffer: answer.body).contains(String(repeating: "0", count: 64)))

            // Cancelling a job stops its running execution through the service's cancel operation.
            let hang = try await Self.pipeline(calls, "hang", [("h", "hang", [])])
            let job = try await calls.create("/jobs", #"{"pipeline_version_id":"\#(hang)"}"#)
            let running = try await Self.waitFor(calls, job) { executions in
                executions.first { $0.status == "RUNNING" }
            }
            #expect(
                try await calls.post("/jobs/\(job)/transition", #"{"status":"CANCELED"}"#).status == .ok)
            _ = try await Self.waitFor(calls, job) { executions in
                executions.allSatisfy { $0.status == "CANCELED" } ? true : nil
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline,
                try await !Self.calls(service).contains(where: { $0.path == "/cancel/\(running.id)" })
            {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await Self.calls(service).contains { $0.path == "/cancel/\(running.id)" })

            // Six steps at once, the org's cap 2: never more than two calls at a time.
            let wide = try await Self.pipeline(calls, "wide", (1...6).map { ("w\($0)", "sum", []) })
            let wideJob = try await Self.finished(
                calls,
                try await calls.create("/jobs", #"{"pipeline_version_id":"\#(wide)","params":{"sleep_sum":0.3}}"#))
            #expect(wideJob.status == "COMPLETED")
            let concurrency =
                try JSONSerialization.jsonObject(
                    with: try await Self.fetch("\(service)/concurrency")) as? [String: [String: Int]]
            #expect(concurrency?["max"]?["/sum"] == 2, "\(String(describing: concurrency))")

            // A definition's max_concurrency 1: three parallel steps of it run one at a time.
            try await Self.definition(
                calls, "single", config: #"{"operation":"slow","timeout_seconds":10,"max_concurrency":1}"#,
                service: service)
            let single = try await Self.pipeline(calls, "single", (1...3).map { ("s\($0)", "single", []) })
            let singleJob = try await Self.finished(
                calls, try await calls.create("/jobs", #"{"pipeline_version_id":"\#(single)","params":{"sleep":0.3}}"#))
            #expect(singleJob.status == "COMPLETED")
            let perDefinition =
                try JSONSerialization.jsonObject(
                    with: try await Self.fetch("\(service)/concurrency")) as? [String: [String: Int]]
            #expect(perDefinition?["max"]?["/slow"] == 1, "\(String(describing: perDefinition))")
            _ = env
        }
    }

    /// A process that stopped mid-call leaves its execution RUNNING under a lease; once the lease runs out,
    /// the engine ends that attempt and the retry completes the job.
    @Test func anAttemptWhoseLeaseRanOutIsRetried() async throws {
        try await Self.withEngine { env, calls, service in
            try await Self.definition(calls, "sum", config: #"{"operation":"sum","retries":1}"#, service: service)
            let version = try await Self.pipeline(calls, "lease", [("only", "sum", [])])
            // A job whose first attempt a dead gateway held: made by hand in the org's database.
            let job = try await calls.create("/jobs", #"{"pipeline_version_id":"\#(version)","dispatch":"manual"}"#)
            let definition = try await Self.definitionID(calls, "sum")
            let tenants = TenantDatabases(
                metadata: env.client, box: env.box, settings: env.settings, logger: Self.logger)
            // One transaction: the engine, looking every 100 ms, sees the job running with its attempt or not at
            // all (between two statements it started the step itself, and the two writes deadlocked once).
            try await tenants.withTransaction(org: calls.org, logger: Self.logger) { connection in
                try await connection.query(
                    """
                    UPDATE jobs SET dispatch = 'engine', status = 'RUNNING', started_at = now() WHERE id = \(UUID(uuidString: job)!)
                    """, logger: Self.logger)
                try await connection.query(
                    """
                    INSERT INTO task_executions (job_id, step_key, task_definition_id, attempt, status, started_at,
                                                 lease_owner, lease_expires_at)
                    VALUES (\(UUID(uuidString: job)!), 'only', \(definition), 1, 'RUNNING', now(), 'gone:1:x',
                            now() - interval '1 second')
                    """, logger: Self.logger)
            }
            let done = try await Self.finished(calls, job)
            #expect(done.status == "COMPLETED", "\(done)")
            let attempts = try await Self.executions(calls, job)
            #expect(attempts.map(\.status) == ["FAILED", "COMPLETED"])
            #expect(attempts[0].error?.contains("lease ran out") == true)
        }
    }

    /// A gateway killed (SIGKILL) while its call of a step is in progress: the execution stays RUNNING under the
    /// dead process's lease; another gateway ends that attempt once the lease (timeout + grace) has run out, not
    /// before, and its retry completes the job. The service sees the step twice, the second call after the lease.
    @Test func aGatewayKilledMidCallLeavesAnAttemptAnotherGatewayRetriesAfterItsLease() async throws {
        try await ScriptServer.with("task-test-service", []) { servicePort in
            let service = "http://127.0.0.1:\(servicePort)"
            try await TenantEnv.with { env in
                let key = try await AccessFixture.platformKey(env.settings).plaintext
                let org = try await env.provisioned("killed")
                let environment = [
                    "TESSERA_WORK_ALLOW_PRIVATE_SERVICES": "true", "TESSERA_WORK_HEALTH_INTERVAL_SECONDS": "1",
                    "TESSERA_WORK_ENGINE_INTERVAL_MS": "100", "TESSERA_WORK_ENGINE_LEASE_GRACE_SECONDS": "2",
                ]
                let first = try await TwoGatewayTests.Gateway.started(env.settings, environment: environment)
                var killed = false
                defer { if !killed { first.stop() } }
                let base = "/v1/orgs/\(org)"
                func create(_ gateway: TwoGatewayTests.Gateway, _ path: String, _ json: String) async throws -> String {
                    let (status, data) = try await gateway.post(base + path, key: key, json: json)
                    try #require(status == 201, "\(path): \(String(decoding: data, as: UTF8.self))")
                    return try JSONDecoder().decode(JobAndPipelineTests.Created.self, from: data).id
                }
                func get<T: Decodable>(_ gateway: TwoGatewayTests.Gateway, _ path: String, as type: T.Type)
                    async throws -> T
                {
                    let (_, data) = try await gateway.send(
                        "GET", base + path, key: key, contentType: "application/json", body: Data())
                    return try JSONDecoder().decode(T.self, from: data)
                }
                let definition = try await create(
                    first, "/task-definitions",
                    #"{"task_id":"slow","version":"1.0.0","interface_spec":\#(Self.spec),"service_config":{"operation":"slow","timeout_seconds":4,"retries":1,"backoff_seconds":0}}"#
                )
                _ = try await create(
                    first, "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(service)"}"#)
                struct Service: Decodable { let health_status: String }
                let healthy = ContinuousClock.now + .seconds(20)
                while try await get(first, "/task-services", as: Page<Service>.self).items.first?.health_status
                    != "healthy", ContinuousClock.now < healthy
                {
                    try await Task.sleep(for: .milliseconds(200))
                }
                let pipeline = try await create(first, "/pipelines", #"{"name":"slow"}"#)
                let version = try JSONDecoder().decode(
                    JobAndPipelineTests.Version.self,
                    from: try await first.post(
                        base + "/pipelines/\(pipeline)/versions", key: key,
                        json: #"{"steps":[{"key":"only","task":"slow","version":"1.0.0"}]}"#
                    ).1)
                #expect(
                    try await first.post(base + "/pipelines/\(pipeline)/versions/1/publish", key: key, json: "").0
                        == 200)
                let job = try await create(
                    first, "/jobs", #"{"pipeline_version_id":"\#(version.id)","params":{"sleep":2.5}}"#)
                // Killed while the service holds its call.
                let called = ContinuousClock.now + .seconds(20)
                while try await !Self.calls(service).contains(where: { $0.path == "/slow" }),
                    ContinuousClock.now < called
                {
                    try await Task.sleep(for: .milliseconds(50))
                }
                first.kill()
                killed = true
                let second = try await TwoGatewayTests.Gateway.started(env.settings, environment: environment)
                defer { second.stop() }
                let deadline = ContinuousClock.now + .seconds(40)
                var current = try await get(second, "/jobs/\(job)", as: Job.self)
                while current.status == "RUNNING" || current.status == "PENDING", ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    current = try await get(second, "/jobs/\(job)", as: Job.self)
                }
                #expect(current.status == "COMPLETED", "\(current)")
                let attempts = try await get(second, "/jobs/\(job)/executions", as: Page<Execution>.self).items
                #expect(attempts.map(\.status) == ["FAILED", "COMPLETED"], "\(attempts)")
                #expect(attempts.first?.error?.contains("lease ran out") == true)
                let slow = try await Self.calls(service).filter { $0.path == "/slow" }
                #expect(slow.count == 2, "\(slow)")
                // Not called again before the first attempt's lease (4 s timeout + 2 s grace from its claim) had run
                // out: the second call came after the lease's end as the database recorded it. (Measured from the
                // first call instead, the bound moved with the first call's dispatch: 5.41 s once on a loaded box.)
                if slow.count == 2, let firstAttempt = slow[0].execution_id.flatMap(UUID.init(uuidString:)) {
                    let (placement, server, password) = try await env.placement(org)
                    let leaseEnd = try await server.withOrgConnection(
                        placement.name, password: password, logger: TestDatabase.logger
                    ) {
                        try await $0.query(
                            "SELECT extract(epoch FROM lease_expires_at)::float8 FROM task_executions WHERE id = \(firstAttempt)",
                            logger: TestDatabase.logger
                        ).collect().first?.decode(Double?.self)
                    }
                    let end = try #require(leaseEnd ?? nil)
                    #expect(slow[1].at >= end - 0.05, "called again \(end - slow[1].at) s before the lease ran out")
                    #expect(end - slow[0].at > 5, "the lease ran \(end - slow[0].at) s past the first call")
                }
            }
        }
    }

    @Test func tokensInPathsAreRedactedWhereTheyAreShown() {
        let secret = String(repeating: "ab", count: 32)
        #expect(SecretPath.redacted("/v1/task-callbacks/o.e.\(secret)") == "/v1/task-callbacks/o.e.…")
        #expect(SecretPath.redacted("/v1/task-artifacts/o.e.\(secret)") == "/v1/task-artifacts/o.e.…")
        #expect(
            SecretPath.redacted("/v1/artifact-downloads/o.a.1700000000.\(secret)")
                == "/v1/artifact-downloads/o.a.1700000000.…")
        #expect(SecretPath.redacted("/v1/task-callbacks/\(secret)") == "/v1/task-callbacks/…")
        #expect(SecretPath.redacted("/v1/orgs/x/jobs") == "/v1/orgs/x/jobs")
    }

    // MARK: helpers

    /// A provisioned org, a gateway serving on a loopback port with the engine on, the test task service running,
    /// and calls as a platform admin.
    static func withEngine(
        maxRunning: Int = 8, _ body: @escaping @Sendable (TenantEnv, OrgCalls, String) async throws -> Void
    ) async throws {
        try await ScriptServer.with("task-test-service", []) { servicePort in
            try await withGateway(maxRunning: maxRunning) { env, calls in
                try await body(env, calls, "http://127.0.0.1:\(servicePort)")
            }
        }
    }

    /// A provisioned org and a gateway serving on a loopback port with the engine on (services at private
    /// addresses allowed, checked every second); calls as a platform admin.
    static func withGateway(
        maxRunning: Int = 8, _ body: @escaping @Sendable (TenantEnv, OrgCalls) async throws -> Void
    ) async throws {
        let engineOn: (inout Settings) -> Void = {
            $0.work.allowPrivateServices = true
            $0.work.healthIntervalSeconds = 1
            $0.work.engineIntervalMilliseconds = 100
            $0.work.engineMaxRunningPerOrg = maxRunning
        }
        try await TenantEnv.with(configure: engineOn) { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("engine")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.live) { client in
                try await body(env, OrgCalls(client: client, org: org, key: platform))
            }
        }
    }

    /// A task definition `task` (version 1.0.0) of the test document with `config`, and the service registered
    /// for it, waited for until the health checker calls it healthy.
    static func definition(
        _ calls: OrgCalls, _ task: String, config: String, service: String, spec: String = JobEngineTests.spec
    ) async throws {
        let definition = try await calls.create(
            "/task-definitions",
            #"{"task_id":"\#(task)","version":"1.0.0","interface_spec":\#(spec),"service_config":\#(config)}"#)
        let registered = try await calls.create(
            "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(service)"}"#)
        struct Service: Decodable {
            let id: String
            let health_status: String
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let list = try JSONDecoder().decode(
                Page<Service>.self, from: Data(buffer: try await calls.get("/task-services").body))
            if list.items.contains(where: { $0.id == registered && $0.health_status == "healthy" }) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("the service for \(task) never became healthy")
    }

    static func definitionID(_ calls: OrgCalls, _ task: String) async throws -> UUID {
        let list = try JSONDecoder().decode(
            JobAndPipelineTests.DefinitionList.self,
            from: Data(buffer: try await calls.get("/task-definitions?task_id=\(task)").body))
        return UUID(uuidString: list.items[0].id)!
    }

    /// A published pipeline of `steps` (key, task, dependencies); its version's id.
    static func pipeline(_ calls: OrgCalls, _ name: String, _ steps: [(String, String, [String])]) async throws
        -> String
    {
        let pipeline = try await calls.create("/pipelines", #"{"name":"\#(name)"}"#)
        let list = steps.map { key, task, after in
            #"{"key":"\#(key)","task":"\#(task)","version":"1.0.0","depends_on":[\#(after.map { "\"\($0)\"" }.joined(separator: ","))]}"#
        }
        let version = try JSONDecoder().decode(
            JobAndPipelineTests.Version.self,
            from: Data(
                buffer: try await calls.post(
                    "/pipelines/\(pipeline)/versions", #"{"steps":[\#(list.joined(separator: ","))]}"#
                ).body))
        #expect(try await calls.post("/pipelines/\(pipeline)/versions/\(version.version)/publish", "").status == .ok)
        return version.id
    }

    /// The job once it has ended (within `seconds`).
    static func finished(_ calls: OrgCalls, _ job: String, within seconds: Int = 30) async throws -> Job {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            let current = try JSONDecoder().decode(
                Job.self, from: Data(buffer: try await calls.get("/jobs/\(job)").body))
            if ["COMPLETED", "FAILED", "CANCELED"].contains(current.status) || ContinuousClock.now > deadline {
                return current
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func waitFor<T>(_ calls: OrgCalls, _ job: String, _ found: ([Execution]) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let value = found(try await executions(calls, job)) { return value }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try #require(found(try await executions(calls, job)), "not reached in 20 s")
    }

    static func executions(_ calls: OrgCalls, _ job: String) async throws -> [Execution] {
        try JSONDecoder().decode(
            Page<Execution>.self, from: Data(buffer: try await calls.get("/jobs/\(job)/executions").body)
        ).items
    }

    static func total(_ calls: OrgCalls, _ job: String, _ execution: Execution) async throws -> Double? {
        let results = try JSONDecoder().decode(
            Page<Result>.self,
            from: Data(buffer: try await calls.get("/jobs/\(job)/executions/\(execution.id)/results").body))
        guard case .number(let total) = results.items.last?.result["total"] else { return nil }
        return total
    }

    static func calls(_ service: String) async throws -> [Call] {
        try JSONDecoder().decode([Call].self, from: try await fetch("\(service)/calls"))
    }

    static func fetch(_ url: String) async throws -> Data {
        let response = try await OutboundCall.http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        return Data(buffer: try await response.body.collect(upTo: 16 << 20))
    }

    static func auditCount(_ env: TenantEnv, _ org: UUID, actor: String) async throws -> Int {
        // The relay moves the org's outbox into the audit log; wait for it to settle.
        let deadline = ContinuousClock.now + .seconds(10)
        var last = -1
        while ContinuousClock.now < deadline {
            let count = try await env.client.withConnection { connection in
                try await connection.query(
                    "SELECT count(*) FROM audit_logs WHERE org_id = \(org) AND actor_display = \(actor)",
                    logger: Self.logger
                ).collect()[0].decode(Int.self)
            }
            if count == last, count > 0 { return count }
            last = count
            try await Task.sleep(for: .milliseconds(300))
        }
        return last
    }
}
