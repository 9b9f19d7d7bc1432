import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraGateway
@testable import TesseraProvisioning

/// Workloads in an org's own database: datasets, bulk import, prediction runs, the work queue, the results triggers,
/// and their audit events through the outbox.
@Suite struct TenantWorkloadTests {
    static let logger = TestDatabase.logger

    /// The prediction-tracking triggers, as the org's own role sees them: counts move by one, a run seeds
    /// its work items, progress is kept per state change, and a run completes when every row has a result.
    @Test func resultsTriggersKeepCountsProgressAndCompletion() async throws {
        try await TenantEnv.with { env in
            let org = try await env.provisioned("triggers")
            let (placement, server, password) = try await env.placement(org)
            try await server.withOrgConnection(placement.name, password: password, logger: Self.logger) { c in
                let log = Self.logger
                func int(_ sql: String) async throws -> Int {
                    try await c.query(PostgresQuery(unsafeSQL: sql), logger: log).collect()[0].decode(Int.self)
                }
                /// "status total/pending/in_progress/done/failed finished?" of the first run.
                func run() async throws -> String {
                    let (status, total, pending, progress, done, failed, finished) = try await c.query(
                        "SELECT status::text, total, pending, in_progress, done, failed, finished_at IS NOT NULL FROM prediction_runs ORDER BY created_at LIMIT 1",
                        logger: log
                    ).collect()[0].decode((String, Int, Int, Int, Int, Int, Bool).self)
                    return "\(status) \(total)/\(pending)/\(progress)/\(done)/\(failed) \(finished)"
                }
                let dataset = try await c.query(
                    "INSERT INTO datasets (name, fields) VALUES ('d', '{text}') RETURNING id", logger: log
                )
                .collect()[0].decode(UUID.self)
                for i in 0..<3 {
                    try await c.query(
                        "INSERT INTO rows (dataset_id, position, content, expected_prediction) VALUES (\(dataset), \(i), '{\"text\":\"x\"}', 'yes')",
                        logger: log)
                }
                #expect(try await int("SELECT row_count FROM datasets") == 3)
                let model = try await c.query(
                    "INSERT INTO models (name, source) VALUES ('m', 'ollama') RETURNING id", logger: log
                )
                .collect()[0].decode(UUID.self)
                let prompt = try await c.query(
                    "INSERT INTO prompts (name, template) VALUES ('p', '{{text}}') RETURNING id", logger: log
                )
                .collect()[0].decode(UUID.self)
                try await c.query(
                    "INSERT INTO prediction_runs (model_id, prompt_id, dataset_id) VALUES (\(model), \(prompt), \(dataset))",
                    logger: log)
                #expect(try await int("SELECT count(*)::int FROM work_items WHERE status = 'pending'") == 3)
                #expect(try await run() == "pending 3/3/0/0/0 false")
                // A worker leases two items: the run starts; the heartbeat is stamped.
                try await c.query(
                    "UPDATE work_items SET status = 'leased' WHERE id IN (SELECT id FROM work_items ORDER BY id LIMIT 2)",
                    logger: log)
                #expect(try await run() == "running 3/1/2/0/0 false")
                #expect(try await int("SELECT count(*)::int FROM work_items WHERE heartbeat_at IS NOT NULL") == 2)
                // Results arrive: one succeeds, one fails; not complete while a row has none.
                try await c.query(
                    "UPDATE work_items SET status = 'done' WHERE id = (SELECT min(id::text)::uuid FROM work_items WHERE status = 'leased')",
                    logger: log)
                try await c.query("UPDATE work_items SET status = 'failed' WHERE status = 'leased'", logger: log)
                #expect(try await run() == "running 3/1/0/1/1 false")
                // The last row: done + failed = total, the run completes.
                try await c.query("UPDATE work_items SET status = 'leased' WHERE status = 'pending'", logger: log)
                try await c.query("UPDATE work_items SET status = 'done' WHERE status = 'leased'", logger: log)
                #expect(try await run() == "done 3/0/0/2/1 true")
                // A run over an empty dataset is done at once.
                let empty = try await c.query("INSERT INTO datasets (name) VALUES ('empty') RETURNING id", logger: log)
                    .collect()[0].decode(UUID.self)
                try await c.query(
                    "INSERT INTO prediction_runs (model_id, prompt_id, dataset_id) VALUES (\(model), \(prompt), \(empty))",
                    logger: log)
                #expect(
                    try await int(
                        "SELECT count(*)::int FROM prediction_runs WHERE dataset_id = '\(empty)' AND status = 'done' AND total = 0"
                    ) == 1)
            }
        }
    }

    /// An org's database is not trusted to speak for the platform: what its outbox says is relayed as that org's,
    /// an action it never writes is refused (an `audit.relay_reject` record instead), and the jobs mirror takes
    /// no pipeline version of another org.
    @Test func theRelayBelievesNoMoreThanAnOrgsDatabaseMaySay() async throws {
        try await TenantEnv.withRelay("forger") { env, org, databases, relay in
            let other = try await env.provisioned("victim")
            // A pipeline version of the other org.
            let version = try await env.client.withConnection { connection in
                let pipeline = try await connection.query(
                    "INSERT INTO pipelines (org_id, name) VALUES (\(other), 'p') RETURNING id", logger: Self.logger
                ).collect()[0].decode(UUID.self)
                return try await connection.query(
                    """
                    INSERT INTO pipeline_versions (pipeline_id, version, definition, checksum)
                    VALUES (\(pipeline), 1, '{}', \(ByteBuffer(bytes: [UInt8](repeating: 1, count: 32))))
                    RETURNING id
                    """, logger: Self.logger
                ).collect()[0].decode(UUID.self)
            }
            // Rows written straight into the org's outbox, as its own login role could.
            let (claimsOther, platform, garbage, job) = (UUID(), UUID(), UUID(), UUID())
            func row(_ id: UUID, action: String, org claimed: UUID, job: String = "") -> String {
                #"{"event_id":"\#(id)","org_id":"\#(claimed)","actor_kind":"system","action":"\#(action)","outcome":"succeeded","metadata":{}\#(job)}"#
            }
            let rows: [(UUID, String)] = [
                (claimsOther, row(claimsOther, action: "dataset.create", org: other)),
                (platform, row(platform, action: "platform_admin.bootstrap", org: other)),
                (garbage, "{\"not\":\"a record\"}"),
                (
                    job,
                    row(
                        job, action: "job.create", org: org,
                        job: #","job":{"job_id":"\#(job)","status":"PENDING","pipeline_version_id":"\#(version)"}"#)
                ),
            ]
            try await databases.withConnection(org: org, logger: Self.logger) { connection in
                for (id, json) in rows {
                    try await connection.query(
                        "INSERT INTO audit_outbox (event_id, event) VALUES (\(id), \(json)::jsonb)", logger: Self.logger
                    )
                }
            }
            #expect(try await relay.relay(org) == 4)
            let logged = try await env.client.withConnection { connection in
                try await connection.query(
                    "SELECT event_id, org_id, action FROM audit_logs WHERE event_id = ANY(\([claimsOther, platform, garbage, job]))",
                    logger: Self.logger
                ).collect().map { try $0.decode((UUID, UUID?, String).self) }
            }
            let byID = Dictionary(uniqueKeysWithValues: logged.map { ($0.0, ($0.1, $0.2)) })
            #expect(byID[claimsOther]?.0 == org && byID[claimsOther]?.1 == "dataset.create")
            #expect(byID[platform]?.0 == org && byID[platform]?.1 == "audit.relay_reject")
            #expect(byID[garbage]?.0 == org && byID[garbage]?.1 == "audit.relay_reject")
            #expect(byID[job]?.1 == "job.create")
            let bootstraps = try await env.client.withConnection {
                try await $0.query(
                    "SELECT count(*)::int FROM audit_logs WHERE action = 'platform_admin.bootstrap' AND event_id = \(platform)",
                    logger: Self.logger
                ).collect()[0].decode(Int.self)
            }
            #expect(bootstraps == 0)
            let mirrored = try await env.client.withConnection {
                try await $0.query(
                    "SELECT org_id, pipeline_version_id FROM jobs_meta WHERE job_id = \(job)", logger: Self.logger
                ).collect().map { try $0.decode((UUID, UUID?).self) }
            }
            #expect(mirrored.count == 1 && mirrored.first?.0 == org && mirrored.first?.1 == nil, "\(mirrored)")
            // The org's chain still verifies with the refusals in it.
            let verdict = try await env.client.withConnection {
                try await AuditStore(logger: Self.logger).verify(org: org, on: $0)
            }
            guard case .intact = verdict else {
                Issue.record("chain broken: \(verdict)")
                return
            }
        }
    }

    /// The org's role only adds to its outbox (no UPDATE, DELETE, TRUNCATE: nothing can be withdrawn before the
    /// relay reads it), and the relay, which remembers how far it read in the metadata database, never passes over
    /// a row an older transaction commits late: a newer committed row waits behind it.
    @Test func theOutboxOnlyGrowsAndALateCommitIsNotPassedOver() async throws {
        try await TenantEnv.withRelay("outbox") { env, org, databases, relay in
            @Sendable func insert(_ id: UUID, on connection: PostgresConnection) async throws {
                let json =
                    #"{"event_id":"\#(id)","org_id":"\#(org)","actor_kind":"system","action":"dataset.create","outcome":"succeeded","metadata":{}}"#
                try await connection.query(
                    "INSERT INTO audit_outbox (event_id, event) VALUES (\(id), \(json)::jsonb)", logger: Self.logger)
            }
            func logged(_ ids: [UUID]) async throws -> Int {
                try await env.client.withConnection {
                    try await $0.query(
                        "SELECT count(*)::int FROM audit_logs WHERE event_id = ANY(\(ids))", logger: Self.logger
                    ).collect()[0].decode(Int.self)
                }
            }
            try await databases.withConnection(org: org, logger: Self.logger) { connection in
                for sql in [
                    "UPDATE audit_outbox SET delivered_at = now()", "DELETE FROM audit_outbox", "TRUNCATE audit_outbox",
                ] {
                    do {
                        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger)
                        Issue.record("the org's role may: \(sql)")
                    } catch let error as PSQLError {
                        #expect(error.serverInfo?[.sqlState] == "42501", "\(sql)")
                    }
                }
            }
            let (older, newer) = (UUID(), UUID())
            try await databases.withConnection(org: org, logger: Self.logger) { a in
                try await a.query("BEGIN", logger: Self.logger)
                try await a.query("SELECT pg_current_xact_id()", logger: Self.logger)  // a's id: the older one
                try await databases.withConnection(org: org, logger: Self.logger) { b in
                    try await insert(newer, on: b)  // committed at once, by a newer transaction
                }
                try await insert(older, on: a)
                #expect(try await relay.relay(org) == 0, "a newer row was read past a running older transaction")
                try await a.query("COMMIT", logger: Self.logger)
            }
            #expect(try await relay.relay(org) == 2)
            #expect(try await logged([older, newer]) == 2)
            #expect(try await relay.relay(org) == 0)
        }
    }

    /// Rows the relay has delivered are deleted from the org's outbox by the trimmer (the server's admin login: the
    /// org's role cannot delete), up to the relay's position and no further: a row not yet relayed stays, is relayed
    /// later, and goes at the next trim. The org's chain still verifies. Before the trimmer, every row stayed.
    @Test func deliveredOutboxRowsAreTrimmedAndOnlyThose() async throws {
        try await TenantEnv.withRelay("trim") { env, org, databases, relay in
            let (_, server, _) = try await env.placement(org)
            let database = try await env.client.withConnection {
                try await OrgStore(logger: Self.logger).placement(org, on: $0)!.name.value
            }
            func outboxRows() async throws -> Int {
                try await server.withAdminConnection(database: database, logger: Self.logger) {
                    try await $0.query("SELECT count(*)::int FROM audit_outbox", logger: Self.logger).collect()[0]
                        .decode(Int.self)
                }
            }
            @Sendable func event(_ n: Int) -> AuditEvent {
                AuditEvent(
                    org: org, actorKind: .apiKey, actorDisplay: "tsk_x", action: .datasetCreate,
                    entityType: "dataset", entityID: String(n))
            }
            let trimmer = OutboxTrimmer(
                metadata: env.client, box: env.box, tls: env.settings.database.tls, interval: .seconds(3600),
                logger: Self.logger)
            let before = try await outboxRows()  // provisioning's own events, if any
            for n in 1...3 {
                try await databases.change(org: org, logger: Self.logger) { _, trail in try await trail.write(event(n))
                }
            }
            #expect(try await relay.relay(org) == before + 3)
            let late = event(4)
            try await databases.change(org: org, logger: Self.logger) { _, trail in try await trail.write(late) }
            #expect(try await outboxRows() == before + 4)
            #expect(try await trimmer.trim() == before + 3)
            #expect(try await outboxRows() == 1, "only the row not yet relayed is left")
            #expect(try await trimmer.trim() == 0, "nothing delivered since the last trim")
            #expect(try await relay.relay(org) == 1)
            let logged = try await env.client.withConnection {
                try await $0.query(
                    "SELECT count(*)::int FROM audit_logs WHERE org_id = \(org) AND action = 'dataset.create'",
                    logger: Self.logger
                ).collect()[0].decode(Int.self)
            }
            #expect(logged == 4)
            #expect(try await trimmer.trim() == 1)
            #expect(try await outboxRows() == 0)
            // A new event after the trims is relayed as usual.
            try await databases.change(org: org, logger: Self.logger) { _, trail in try await trail.write(event(5)) }
            #expect(try await relay.relay(org) == 1)
            let verdict = try await env.client.withConnection {
                try await AuditStore(logger: Self.logger).verify(org: org, on: $0)
            }
            guard case .intact = verdict else {
                Issue.record("chain broken: \(verdict)")
                return
            }
        }
    }

    /// Tenant changes write their audit event in the org's own transaction (the outbox); the relay moves it to
    /// the audit log exactly once, whether it was interrupted before the relay ran or after the append.
    @Test func tenantAuditEventsReachTheLogExactlyOnce() async throws {
        try await TenantEnv.withRelay("outbox") { env, org, databases, relay in
            func count(_ event: UUID) async throws -> Int {
                try await env.client.withConnection { connection in
                    try await connection.query(
                        "SELECT count(*)::int FROM audit_logs WHERE event_id = \(event)", logger: Self.logger
                    )
                    .collect()[0].decode(Int.self)
                }
            }
            // Committed in the org's database, then the process died before the relay ran.
            let first = AuditEvent(
                org: org, actorKind: .apiKey, actorDisplay: "tsk_x", action: .datasetCreate, entityType: "dataset",
                entityID: "1")
            try await databases.change(org: org, logger: Self.logger) { _, trail in try await trail.write(first) }
            #expect(try await count(first.eventID) == 0)
            await relay.sweep()  // what a restarted gateway does first
            #expect(try await count(first.eventID) == 1)
            #expect(try await relay.relay(org) == 0)
            #expect(try await count(first.eventID) == 1)
            // Its record appended already, the position not advanced (they commit together now, but an append is
            // idempotent whatever path made it): delivered again, recorded once.
            let second = AuditEvent(
                org: org, actorKind: .apiKey, actorDisplay: "tsk_x", action: .datasetCreate, entityType: "dataset",
                entityID: "2")
            try await databases.change(org: org, logger: Self.logger) { _, trail in try await trail.write(second) }
            try await env.client.withConnection { try await AuditStore(logger: Self.logger).append(second, on: $0) }
            #expect(try await relay.relay(org) == 1)
            #expect(try await count(second.eventID) == 1)
            let position = try await env.client.withConnection {
                try await AuditOutbox.position(org: org, on: $0, logger: Self.logger)
            }
            let pending = try await databases.withConnection(org: org, logger: Self.logger) {
                try await AuditOutbox.pending(org: org, after: position, limit: 10, on: $0, logger: Self.logger)
            }
            #expect(position != nil && pending.events.isEmpty && pending.last == nil)
            let verdict = try await env.client.withConnection {
                try await AuditStore(logger: Self.logger).verify(org: org, on: $0)
            }
            guard case .intact = verdict else {
                Issue.record("chain broken: \(verdict)")
                return
            }
        }
    }

    @Test func creatingADatasetThroughTheAPIIsAudited() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("audited-data")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let admin: HTTPFields = [
                    .authorization: "Bearer \(platform.plaintext)", .contentType: "application/json",
                ]
                #expect(
                    try await client.execute(
                        uri: "/v1/orgs/\(org)/datasets", method: .post, headers: admin,
                        body: ByteBuffer(string: #"{"name":"d"}"#)
                    ).status == .created)
                // A refused duplicate writes nothing.
                #expect(
                    try await client.execute(
                        uri: "/v1/orgs/\(org)/datasets", method: .post, headers: admin,
                        body: ByteBuffer(string: #"{"name":"d"}"#)
                    ).status == .conflict)
                try await waitUntil(timeout: .seconds(5)) {
                    try await env.client.withConnection { connection in
                        try await connection.query(
                            "SELECT count(*)::int FROM audit_logs WHERE org_id = \(org) AND action = 'dataset.create'",
                            logger: Self.logger
                        ).collect()[0].decode(Int.self)
                    } == 1
                }
                try await Task.sleep(for: .milliseconds(300))
                let total = try await env.client.withConnection { connection in
                    try await connection.query(
                        "SELECT count(*)::int FROM audit_logs WHERE org_id = \(org) AND action = 'dataset.create' AND actor_kind = 'platform_admin'",
                        logger: Self.logger
                    ).collect()[0].decode(Int.self)
                }
                #expect(total == 1)
                try await client.execute(uri: "/readyz", method: .get) { response in
                    #expect(String(buffer: response.body).contains("audit_relay_lag_seconds"))
                }
            }
        }
    }

    /// 100,000 rows in one request, all or nothing; a bad line is named and nothing is written.
    @Test func bulkImportOfAHundredThousandRows() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("bulk")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let auth = "Bearer \(platform.plaintext)"
                let created = try await client.execute(
                    uri: "/v1/orgs/\(org)/datasets", method: .post,
                    headers: [.authorization: auth, .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"name":"big","fields":["text"]}"#))
                struct Dataset: Decodable {
                    let id: String
                    let row_count: Int
                }
                let dataset = try JSONDecoder().decode(Dataset.self, from: Data(buffer: created.body)).id
                let rows = "/v1/orgs/\(org)/datasets/\(dataset)/rows"
                var ndjson = ""
                for i in 0..<100_000 {
                    ndjson +=
                        #"{"content":{"text":"row \#(i)"},"expected_prediction":"\#(i % 2 == 0 ? "yes" : "no")"}"#
                        + "\n"
                }
                // A bad line in the middle: 400 naming it, and nothing written.
                var broken = ndjson.split(separator: "\n", omittingEmptySubsequences: false)
                broken[49_999] = #"{"content":{"txt":"typo"}}"#
                try await client.execute(
                    uri: rows, method: .post, headers: [.authorization: auth, .contentType: "application/x-ndjson"],
                    body: ByteBuffer(string: broken.joined(separator: "\n"))
                ) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains("row 50000"))
                }
                let started = ContinuousClock.now
                try await client.execute(
                    uri: rows, method: .post, headers: [.authorization: auth, .contentType: "application/x-ndjson"],
                    body: ByteBuffer(string: ndjson)
                ) { response in
                    #expect(response.status == .ok, "\(String(buffer: response.body).prefix(300))")
                    let imported = try JSONDecoder().decode(Dataset.self, from: Data(buffer: response.body))
                    #expect(imported.row_count == 100_000)
                }
                Self.logger.notice("imported 100,000 rows", metadata: ["elapsed": "\(ContinuousClock.now - started)"])
                // A JSON array appends after them.
                try await client.execute(
                    uri: rows, method: .post, headers: [.authorization: auth, .contentType: "application/json"],
                    body: ByteBuffer(
                        string: #"[{"content":{"text":"x"}},{"content":{"text":"y"},"expected_prediction":"no"}]"#)
                ) { response in
                    let imported = try JSONDecoder().decode(Dataset.self, from: Data(buffer: response.body))
                    #expect(imported.row_count == 100_002)
                }
                // Arrays stream as NDJSON does: a bad element is named by its number, a body that is not one
                // array is refused whole, and neither writes anything.
                for (body, says) in [
                    (
                        "[\n  {\"content\": {\"text\": \"z\"}},\n  {\"content\": {\"txt\": 1}}\n]",
                        "row 2: content lacks"
                    ),
                    (#"{"content":{"text":"z"}}"#, "the body must be a JSON array of rows"),
                    (#"[{"content":{"text":"z"}},]"#, "the body is not valid JSON"),
                    (#"[{"content":{"text":"z"}}] []"#, "the body is not valid JSON"),
                ] {
                    try await client.execute(
                        uri: rows, method: .post, headers: [.authorization: auth, .contentType: "application/json"],
                        body: ByteBuffer(string: body)
                    ) { response in
                        #expect(response.status == .badRequest, "\(body)")
                        #expect(String(buffer: response.body).contains(says), "\(String(buffer: response.body))")
                    }
                }
            }
            let (placement, server, password) = try await env.placement(org)
            let positions = try await server.withOrgConnection(placement.name, password: password, logger: Self.logger)
            { connection in
                try await connection.query(
                    "SELECT count(*)::int, count(DISTINCT position)::int, max(position), count(expected_prediction)::int FROM rows",
                    logger: Self.logger
                ).collect()[0].decode((Int, Int, Int, Int).self)
            }
            #expect(
                positions.0 == 100_002 && positions.1 == 100_002 && positions.2 == 100_001 && positions.3 == 100_001)
        }
    }

    /// Models, prompts and runs: a run seeds one work item per row, checks the prompt's placeholders
    /// against the dataset's fields, reports progress and can be cancelled once.
    @Test func predictionRunsThroughTheAPI() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("runs")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let headers = calls.headers
                let dataset = try await calls.create("/datasets", #"{"name":"d","fields":["text"]}"#)
                #expect(
                    try await calls.post(
                        "/datasets/\(dataset)/rows", "{\"content\":{\"text\":\"a\"}}\n{\"content\":{\"text\":\"b\"}}\n",
                        contentType: "application/x-ndjson"
                    ).status == .ok)
                let model = try await calls.create("/models", #"{"name":"llama3","source":"ollama"}"#)
                #expect(try await calls.post("/models", #"{"name":"llama3","source":"ollama"}"#).status == .conflict)
                #expect(
                    try await calls.post("/prompts", #"{"name":"bad","template":"oops {{text"}"#).status
                        == .unprocessableContent)
                let good = try await calls.create("/prompts", #"{"name":"p","template":"Sentiment of: {{text}}"}"#)
                let wrong = try await calls.create("/prompts", #"{"name":"q","template":"{{title}}"}"#)
                // A placeholder the rows cannot fill is refused.
                try await client.execute(
                    uri: "/v1/orgs/\(org)/runs", method: .post, headers: headers,
                    body: ByteBuffer(
                        string: #"{"model_id":"\#(model)","prompt_id":"\#(wrong)","dataset_id":"\#(dataset)"}"#)
                ) { response in
                    #expect(response.status == .unprocessableContent)
                    #expect(String(buffer: response.body).contains("title"))
                }
                struct Run: Decodable {
                    let id: String
                    let status: String
                    let total: Int
                    let pending: Int
                }
                let created = try await calls.post(
                    "/runs", #"{"model_id":"\#(model)","prompt_id":"\#(good)","dataset_id":"\#(dataset)"}"#)
                #expect(created.status == .created)
                let run = try JSONDecoder().decode(Run.self, from: Data(buffer: created.body))
                #expect(run.status == "pending" && run.total == 2 && run.pending == 2)
                try await client.execute(uri: "/v1/orgs/\(org)/runs/\(run.id)", method: .get, headers: headers) {
                    response in
                    let fetched = try JSONDecoder().decode(Run.self, from: Data(buffer: response.body))
                    #expect(fetched.total == 2)
                }
                try await client.execute(uri: "/v1/orgs/\(org)/runs/\(run.id)/cancel", method: .post, headers: headers)
                { response in
                    let cancelled = try JSONDecoder().decode(Run.self, from: Data(buffer: response.body))
                    #expect(cancelled.status == "cancelled")
                }
                #expect(
                    try await client.execute(
                        uri: "/v1/orgs/\(org)/runs/\(run.id)/cancel", method: .post, headers: headers
                    ).status
                        == .conflict)
                #expect(
                    try await client.execute(uri: "/v1/orgs/\(org)/runs/\(UUID())", method: .get, headers: headers)
                        .status == .notFound)
                // Every change reached the audit log through the outbox.
                try await waitUntil(timeout: .seconds(5)) {
                    let actions = try await env.client.withConnection { connection in
                        try await connection.query(
                            "SELECT action FROM audit_logs WHERE org_id = \(org)", logger: Self.logger
                        )
                        .collect().map { try $0.decode(String.self) }
                    }
                    return [
                        "dataset.create", "rows.import", "model.create", "prompt.create", "run.create", "run.cancel",
                    ]
                    .allSatisfy(actions.contains)
                }
            }
        }
    }

    /// The work queue: 32 concurrent claimers never get the same item; results are all or none, idempotent,
    /// refused (409) for items the lease does not hold; expired leases return to the queue; the run completes.
    @Test func workQueueUnderConcurrentClaimers() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("queue")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            // AsyncHTTPClient's pool: the 32 claimers really are concurrent connections.
            try await app.test(.ahc(.http)) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let headers = calls.headers
                let dataset = try await calls.create("/datasets", #"{"name":"d","fields":["text"]}"#)
                let lines = (0..<1000).map { #"{"content":{"text":"row \#($0)"}}"# }.joined(separator: "\n")
                #expect(
                    try await calls.post("/datasets/\(dataset)/rows", lines, contentType: "application/x-ndjson").status
                        == .ok)
                let model = try await calls.create("/models", #"{"name":"m","source":"ollama"}"#)
                let prompt = try await calls.create("/prompts", #"{"name":"p","template":"Say: {{text}}"}"#)
                let run = try await calls.create(
                    "/runs", #"{"model_id":"\#(model)","prompt_id":"\#(prompt)","dataset_id":"\#(dataset)"}"#)

                struct Claim: Decodable {
                    struct Work: Decodable {
                        let work_item_id: String
                        let prompt: String
                    }
                    let lease_id: String
                    let items: [Work]
                }
                let claims = try await withThrowingTaskGroup(of: [Claim].self) { group in
                    for _ in 0..<32 {
                        group.addTask {
                            var mine: [Claim] = []
                            while true {
                                let response = try await calls.post(
                                    "/runs/\(run)/claim", #"{"limit":20,"lease_seconds":300}"#)
                                let claim = try JSONDecoder().decode(Claim.self, from: Data(buffer: response.body))
                                if claim.items.isEmpty { return mine }
                                mine.append(claim)
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                let handed = claims.flatMap { $0.items.map(\.work_item_id) }
                #expect(handed.count == 1000)
                #expect(Set(handed).count == 1000)
                #expect(claims.first?.items.first?.prompt.hasPrefix("Say: row ") == true)

                // Results: one claim's items; again (no-op); an item of another lease (409, nothing recorded).
                struct Submitted: Decodable { let recorded: Int }
                func submit(_ claim: Claim, items: [String], status: String = "succeeded") async throws -> TestResponse
                {
                    let results = items.map {
                        #"{"work_item_id":"\#($0)","output":"ok","latency_seconds":0.5,"status":"\#(status)"}"#
                    }
                    return try await calls.post(
                        "/runs/\(run)/predictions",
                        #"{"lease_id":"\#(claim.lease_id)","results":[\#(results.joined(separator: ","))]}"#)
                }
                let first = claims[0]
                let firstResponse = try await submit(first, items: first.items.map(\.work_item_id))
                #expect(
                    try JSONDecoder().decode(Submitted.self, from: Data(buffer: firstResponse.body)).recorded
                        == first.items.count)
                let again = try await submit(first, items: first.items.map(\.work_item_id))
                #expect(try JSONDecoder().decode(Submitted.self, from: Data(buffer: again.body)).recorded == 0)
                let foreign = try await submit(first, items: [claims[1].items[0].work_item_id])
                #expect(foreign.status == .conflict)
                // Heartbeat extends the second claim's lease.
                struct Beat: Decodable { let extended: Int }
                let beat = try await calls.post(
                    "/runs/\(run)/heartbeat", #"{"lease_id":"\#(claims[1].lease_id)","lease_seconds":600}"#)
                #expect(
                    try JSONDecoder().decode(Beat.self, from: Data(buffer: beat.body)).extended == claims[1].items.count
                )

                // An expired lease returns its items to the queue at the next claim.
                let (placement, server, password) = try await env.placement(org)
                let expired = claims[2].lease_id
                try await server.withOrgConnection(placement.name, password: password, logger: Self.logger) {
                    try await $0.query(
                        "UPDATE work_items SET lease_expires_at = now() - interval '1 second' WHERE lease_id = \(UUID(uuidString: expired)!)",
                        logger: Self.logger)
                }
                let reclaimed = try JSONDecoder().decode(
                    Claim.self, from: Data(buffer: try await calls.post("/runs/\(run)/claim", #"{"limit":1000}"#).body))
                #expect(Set(reclaimed.items.map(\.work_item_id)) == Set(claims[2].items.map(\.work_item_id)))
                #expect(try await submit(claims[2], items: [claims[2].items[0].work_item_id]).status == .conflict)

                // Every other claim reports (half of them as failures); the run completes with done + failed = total.
                for (i, claim) in claims.enumerated() where i != 0 && i != 2 {
                    #expect(
                        try await submit(
                            claim, items: claim.items.map(\.work_item_id), status: i % 2 == 0 ? "succeeded" : "failed"
                        ).status
                            == .ok)
                }
                #expect(try await submit(reclaimed, items: reclaimed.items.map(\.work_item_id)).status == .ok)
                struct Run: Decodable {
                    let status: String
                    let total: Int
                    let done: Int
                    let failed: Int
                    let pending: Int
                    let in_progress: Int
                }
                let final = try JSONDecoder().decode(
                    Run.self,
                    from: Data(
                        buffer: try await client.execute(
                            uri: "/v1/orgs/\(org)/runs/\(run)", method: .get, headers: headers
                        ).body))
                #expect(final.status == "done" && final.total == 1000 && final.done + final.failed == 1000)
                #expect(final.pending == 0 && final.in_progress == 0)
                #expect(try await calls.post("/runs/\(run)/claim", "{}").status == .conflict)
                // Claims, heartbeats and results reached the audit log.
                try await waitUntil(timeout: .seconds(5)) {
                    let actions = try await env.client.withConnection { connection in
                        try await connection.query(
                            "SELECT DISTINCT action FROM audit_logs WHERE org_id = \(org)", logger: Self.logger
                        )
                        .collect().map { try $0.decode(String.self) }
                    }
                    return ["run.claim", "run.heartbeat", "prediction.submit"].allSatisfy(actions.contains)
                }
            }
        }
    }
}
