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

@Suite struct TenantTests {
    static let logger = TestDatabase.logger

    /// A fresh metadata database with tenants prepared, a running metadata pool, and a provisioner.
    struct Env: Sendable {
        let settings: Settings
        let client: PostgresClient
        let box: SecretBox
        var provisioner: Provisioner {
            Provisioner(metadata: client, box: box, settings: settings, logger: TenantTests.logger)
        }

        func createOrg(_ slug: String, server: String? = nil) async throws -> UUID {
            try await client.withConnection {
                try await OrgStore(logger: TenantTests.logger).create(
                    slug: slug, name: slug, owner: nil, server: server, on: $0)!.id
            }
        }

        func provisioned(_ slug: String) async throws -> UUID {
            let org = try await createOrg(slug)
            try await provisioner.provision(org)
            #expect(try await status(org) == .ready)
            return org
        }

        func status(_ org: UUID) async throws -> OrgStatus? {
            try await client.withConnection { try await OrgStore(logger: TenantTests.logger).get(org, on: $0)?.status }
        }

        func placement(_ org: UUID) async throws -> (OrgPlacement, ServerConnection, String) {
            try await client.withConnection { connection in
                let placement = try await OrgStore(logger: TenantTests.logger).placement(org, on: connection)!
                let server = try await ServerStore(box: box, logger: TenantTests.logger).connection(
                    server: placement.serverID, tls: settings.database.tls, on: connection)!
                return (placement, server, try box.open(placement.sealedPassword, for: org))
            }
        }

        /// How many databases and roles named for this org exist on the server.
        func footprint(_ org: UUID) async throws -> (databases: Int, roles: Int) {
            let name = OrgDatabaseName(org: org).value
            return try await settings.database.withConnection(as: .admin, logger: TenantTests.logger) { connection in
                let d = try await connection.query(
                    "SELECT count(*)::int FROM pg_database WHERE datname = \(name)", logger: TenantTests.logger
                )
                .collect()[0].decode(Int.self)
                let r = try await connection.query(
                    "SELECT count(*)::int FROM pg_roles WHERE rolname = \(name)", logger: TenantTests.logger
                )
                .collect()[0].decode(Int.self)
                return (d, r)
            }
        }
    }

    func withEnv(configure tune: (inout Settings) -> Void = { _ in }, _ body: (Env) async throws -> Void) async throws {
        try await TestDatabase.withFresh { base in
            var settings = base
            tune(&settings)
            try await TestDatabase.prepareTenants(settings)
            let client = PostgresClient(
                configuration: settings.database.clientConfiguration(as: .gateway), backgroundLogger: Self.logger)
            let runner = Task { await client.run() }
            defer { runner.cancel() }
            try await body(Env(settings: settings, client: client, box: try TestDatabase.box(settings)))
        }
    }

    @Test func provisioningThroughTheAPIReachesReadyAndServesDatasetsFromTheOrgsOwnDatabase() async throws {
        try await TestDatabase.withTenantApp { settings, platform, client in
            let admin: HTTPFields = [.authorization: "Bearer \(platform.plaintext)", .contentType: "application/json"]
            let created = try await client.execute(
                uri: "/v1/orgs", method: .post, headers: admin,
                body: ByteBuffer(string: #"{"name":"Acme Labs","owner_email":"ada@example.org"}"#))
            #expect(created.status == .accepted)
            struct Created: Decodable {
                struct Org: Decodable {
                    let id: String
                    let slug: String
                    let status: String
                }
                let org: Org
                let provisioning_url: String
                let invitation_token: String?
            }
            let body = try JSONDecoder().decode(Created.self, from: Data(buffer: created.body))
            #expect(body.org.slug == "acme-labs")
            #expect(body.org.status == "provisioning")
            #expect(body.invitation_token?.hasPrefix("tss_") == true)
            // The background service provisions it.
            struct Journal: Decodable {
                struct Step: Decodable {
                    let step: String
                    let status: String
                    let duration_ms: Double?
                }
                let status: String
                let steps: [Step]
            }
            var journal: Journal?
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                journal = try JSONDecoder().decode(
                    Journal.self,
                    from: Data(
                        buffer: try await client.execute(uri: body.provisioning_url, method: .get, headers: admin).body)
                )
                if journal?.status == "ready" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(journal?.status == "ready")
            #expect(journal?.steps.map(\.step) == ProvisioningStep.allCases.map(\.rawValue))
            #expect(journal?.steps.allSatisfy { $0.status == "done" && $0.duration_ms != nil } == true)
            // An editor key of the new org writes and reads a dataset in the org's own database.
            let org = body.org.id
            let issued = try await client.execute(
                uri: "/v1/orgs/\(org)/api-keys", method: .post, headers: admin,
                body: ByteBuffer(string: #"{"name":"w","role":"editor"}"#))
            struct Issued: Decodable { let key: String }
            let key = try JSONDecoder().decode(Issued.self, from: Data(buffer: issued.body)).key
            let editor: HTTPFields = [.authorization: "Bearer \(key)", .contentType: "application/json"]
            try await client.execute(
                uri: "/v1/orgs/\(org)/datasets", method: .post, headers: editor,
                body: ByteBuffer(string: #"{"name":"sentiment","fields":["text"]}"#)
            ) { #expect($0.status == .created) }
            try await client.execute(
                uri: "/v1/orgs/\(org)/datasets", method: .post, headers: editor,
                body: ByteBuffer(string: #"{"name":"sentiment"}"#)
            ) { #expect($0.status == .conflict) }
            try await client.execute(uri: "/v1/orgs/\(org)/datasets", method: .get, headers: editor) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("sentiment"))
            }
            // The owner named at creation is a member with the owner role.
            try await client.execute(uri: "/v1/orgs/\(org)/members", method: .get, headers: admin) { response in
                #expect(String(buffer: response.body).contains("ada@example.org"))
                #expect(String(buffer: response.body).contains("owner"))
            }
            // Retrying a ready org is a conflict.
            try await client.execute(uri: "/v1/orgs/\(org)/provisioning/retry", method: .post, headers: admin) {
                #expect($0.status == .conflict)
            }
        }
    }

    @Test func anOrgsRoleReachesOnlyItsOwnDatabase() async throws {
        try await withEnv { env in
            let a = try await env.provisioned("org-a")
            let b = try await env.provisioned("org-b")
            let (placementA, server, passwordA) = try await env.placement(a)
            let (placementB, _, _) = try await env.placement(b)
            // Its own database: reads and writes rows, but no DDL.
            try await server.withOrgConnection(placementA.name, password: passwordA, logger: Self.logger) {
                connection in
                try await connection.query("INSERT INTO datasets (name) VALUES ('mine')", logger: Self.logger)
                await #expect(throws: (any Error).self) {
                    try await connection.query("CREATE TABLE sneaky (x int)", logger: Self.logger)
                }
            }
            for database in [
                placementB.name.value, env.settings.database.name, env.settings.tenants.templateDatabase, "postgres",
                "template1",
            ] {
                await #expect(throws: (any Error).self, "org A's role connected to \(database)") {
                    try await server.withOrgConnection(
                        placementA.name, password: passwordA, database: database, logger: Self.logger
                    ) { _ in
                    }
                }
            }
            // The password is stored sealed, not in plaintext.
            let stored = try await env.client.withConnection { connection in
                try await connection.query("SELECT org_databases::text FROM org_databases", logger: Self.logger)
                    .collect().map { try $0.decode(String.self) }.joined()
            }
            #expect(!stored.contains(passwordA))
        }
    }

    @Test func aCrashAfterAnyStepStillEndsReadyWithNothingDoubled() async throws {
        try await withEnv { env in
            let store = OrgStore(logger: Self.logger)
            for (k, crashed) in ProvisioningStep.allCases.enumerated() {
                let org = try await env.createOrg("crash-\(k)")
                // Steps before `crashed` completed and were journaled; `crashed` did its work, then the process died
                // before journaling it (the worst moment): its row still says running.
                for step in ProvisioningStep.allCases.prefix(k) {
                    try await env.client.withConnection { try await store.beginStep(step, org: org, on: $0) }
                    try await env.provisioner.run(step, org: org)
                    try await env.client.withConnection { try await store.finishStep(step, org: org, on: $0) }
                }
                try await env.client.withConnection { try await store.beginStep(crashed, org: org, on: $0) }
                try await env.provisioner.run(crashed, org: org)
                // A restarted gateway's service finds it and finishes.
                let service = ProvisioningService(
                    provisioner: env.provisioner, metadata: env.client, logger: Self.logger)
                try await service.pass()
                #expect(try await env.status(org) == .ready, "crash in \(crashed.rawValue)")
                let footprint = try await env.footprint(org)
                #expect(footprint.databases == 1 && footprint.roles == 1, "crash in \(crashed.rawValue)")
                let steps = try await env.client.withConnection { try await store.steps(org, on: $0) }
                #expect(steps.allSatisfy { $0.status == .done })
            }
        }
    }

    @Test func aFailedStepMarksTheOrgFailedAndRetryResumes() async throws {
        try await withEnv { env in
            let org = try await env.createOrg("unlucky", server: "nowhere")
            try await env.provisioner.provision(org)
            #expect(try await env.status(org) == .failed)
            let (record, steps) = try await env.client.withConnection { connection in
                (
                    try await OrgStore(logger: Self.logger).get(org, on: connection)!,
                    try await OrgStore(logger: Self.logger).steps(org, on: connection)
                )
            }
            #expect(record.statusReason?.contains("nowhere") == true)
            #expect(steps.first?.status == .failed)
            #expect(steps.dropFirst().allSatisfy { $0.status == .pending })
            // Fix the cause, retry: it resumes and finishes.
            try await env.client.withConnection { connection in
                try await connection.query(
                    "UPDATE organizations SET requested_server = NULL WHERE id = \(org)", logger: Self.logger)
                #expect(try await OrgStore(logger: Self.logger).retry(org, on: connection))
            }
            try await env.provisioner.provision(org)
            #expect(try await env.status(org) == .ready)
        }
    }

    @Test func poolsStayWithinTheirBounds() async throws {
        let small: (inout Settings) -> Void = {
            $0.tenants.maxPerOrg = 2
            $0.tenants.maxConnections = 4
        }
        try await withEnv(configure: small) { env in
            let orgs = [
                try await env.provisioned("p-1"), try await env.provisioned("p-2"), try await env.provisioned("p-3"),
            ]
            let databases = TenantDatabases(
                metadata: env.client, box: env.box, settings: env.settings, logger: Self.logger)
            #expect(databases.totalConnectionBound == 4)
            // Five requests at once per org, three orgs: never more than 2 per org nor 4 in all.
            let peaks = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for org in orgs + orgs + orgs + orgs + orgs {
                    group.addTask {
                        try await databases.withConnection(org: org) { connection in
                            let count = try await connection.query(
                                "SELECT count(*)::int FROM datasets, pg_sleep(0.02)", logger: Self.logger
                            )
                            .collect()[0].decode(Int.self)
                            #expect(count == 0)
                            return (databases.connectionCount(org: org), databases.connectionCount)
                        }
                    }
                }
                return try await group.reduce(into: (0, 0)) { $0 = (max($0.0, $1.0), max($0.1, $1.1)) }
            }
            #expect(peaks.0 <= 2 && peaks.1 <= 4, "peak \(peaks.0) per org, \(peaks.1) in all")
            await databases.closeAll()
            #expect(databases.connectionCount == 0)
        }
    }

    @Test func anUnreachableOrgDatabaseIs503WhileOthersAreServed() async throws {
        try await withEnv { env in
            let down = try await env.provisioned("down")
            let up = try await env.provisioned("up")
            let downName = OrgDatabaseName(org: down)
            try await env.settings.database.withConnection(as: .admin, logger: Self.logger) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "ALTER DATABASE \(downName.quoted) ALLOW_CONNECTIONS false"),
                    logger: Self.logger)
            }
            let databases = TenantDatabases(
                metadata: env.client, box: env.box, settings: env.settings, logger: Self.logger)
            await #expect(throws: TesseraError.self) {
                try await databases.withConnection(org: down) { _ in 1 }
            }
            do {
                _ = try await databases.withConnection(org: down) { _ in 1 }
            } catch let error as TesseraError {
                #expect(error.statusCode == 503)
            }
            #expect(try await databases.withConnection(org: up) { _ in 1 } == 1)
            await databases.closeAll()
            try await env.settings.database.withConnection(as: .admin, logger: Self.logger) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "ALTER DATABASE \(downName.quoted) ALLOW_CONNECTIONS true"),
                    logger: Self.logger)
            }
        }
    }

    @Test func migrateAllReportsABrokenOrgAndMigratesTheRest() async throws {
        try await withEnv { env in
            let good = try await env.provisioned("good")
            let broken = try await env.provisioned("broken")
            // A new results migration; the broken org already has a table in its way.
            let folder = NSTemporaryDirectory() + "tessera-results-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let existing = try Migrator.loadFiles(from: env.settings.paths.resultsMigrations)
            for file in existing {
                try FileManager.default.copyItem(
                    atPath: "\(env.settings.paths.resultsMigrations)/\(file.name)", toPath: "\(folder)/\(file.name)")
            }
            let extra = String(format: "%04d_extra.sql", existing.last!.number + 1)
            try "CREATE TABLE extra (x int);".write(toFile: "\(folder)/\(extra)", atomically: true, encoding: .utf8)
            let (placement, server, _) = try await env.placement(broken)
            try await server.withAdminConnection(database: placement.name.value, logger: Self.logger) {
                try await $0.query("CREATE TABLE extra (y text)", logger: Self.logger)
            }
            var settings = env.settings
            settings.paths.resultsMigrations = folder
            let report = try await TenantMigrations(settings: settings, box: env.box, logger: Self.logger).run()
            #expect(report.templates["local"] == [extra])
            #expect(report.failures == 1)
            #expect(report.orgs.first { $0.org == good }?.applied == [extra])
            #expect(report.orgs.first { $0.org == broken }?.error?.contains("extra") == true)
            let versions = try await env.client.withConnection { connection in
                (
                    try await OrgStore(logger: Self.logger).get(good, on: connection)?.schemaVersion,
                    try await OrgStore(logger: Self.logger).get(broken, on: connection)?.schemaVersion
                )
            }
            #expect(versions.0 == extra)
            #expect(versions.1 == existing.last!.name)
            // Mend the broken org; a re-run resumes.
            try await server.withAdminConnection(database: placement.name.value, logger: Self.logger) {
                try await $0.query("DROP TABLE extra", logger: Self.logger)
            }
            let again = try await TenantMigrations(settings: settings, box: env.box, logger: Self.logger).run()
            #expect(again.failures == 0)
            #expect(again.orgs.first { $0.org == broken }?.applied == [extra])
            #expect(again.orgs.first { $0.org == good }?.applied == [])
        }
    }

    @Test func suspendingStopsKeysAtOnceAndPurgingLeavesNoDatabaseOrRole() async throws {
        try await withEnv { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("doomed")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let admin: HTTPFields = [
                    .authorization: "Bearer \(platform.plaintext)", .contentType: "application/json",
                ]
                let issued = try await client.execute(
                    uri: "/v1/orgs/\(org)/api-keys", method: .post, headers: admin,
                    body: ByteBuffer(string: #"{"name":"w","role":"editor"}"#))
                struct Issued: Decodable { let key: String }
                let editor: HTTPFields = [
                    .authorization:
                        "Bearer \(try JSONDecoder().decode(Issued.self, from: Data(buffer: issued.body)).key)"
                ]
                let datasets = "/v1/orgs/\(org)/datasets"
                try await client.execute(uri: datasets, method: .get, headers: editor) { #expect($0.status == .ok) }
                try await client.execute(uri: "/v1/orgs/\(org)", method: .delete, headers: admin) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains("suspended"))
                }
                try await waitUntil(timeout: .seconds(5)) {
                    try await client.execute(uri: datasets, method: .get, headers: editor) { $0.status } == .forbidden
                }
                try await client.execute(
                    uri: "/v1/orgs/\(org)?purge=true&confirm=wrong", method: .delete, headers: admin
                ) {
                    #expect($0.status == .unprocessableContent)
                }
                #expect(try await env.footprint(org) == (1, 1))
                try await client.execute(
                    uri: "/v1/orgs/\(org)?purge=true&confirm=doomed", method: .delete, headers: admin
                ) {
                    #expect($0.status == .accepted)
                }
                // Dropping a database waits for a checkpoint: seconds when the whole suite writes at once.
                try await waitUntil(timeout: .seconds(60)) {
                    try await client.execute(uri: "/v1/orgs/\(org)", method: .get, headers: admin) { $0.status }
                        == .notFound
                }
                #expect(try await env.footprint(org) == (0, 0))
                try await client.execute(uri: datasets, method: .get, headers: editor) {
                    #expect($0.status == .unauthorized)
                }
            }
        }
    }

    @Test func orgsSpreadOverTwoServersAndAreServedFromBoth() async throws {
        try await withEnv { env in
            try await TestDatabase.addServerB(env.settings)
            let orgs = [
                try await env.provisioned("two-1"), try await env.provisioned("two-2"),
                try await env.provisioned("two-3"),
                try await env.provisioned("two-4"),
            ]
            var servers: [String] = []
            for org in orgs { servers.append(try await env.placement(org).1.name) }
            // Least loaded first, ties by name: b, local, b, local.
            #expect(servers == ["b", "local", "b", "local"])
            let databases = TenantDatabases(
                metadata: env.client, box: env.box, settings: env.settings, logger: Self.logger)
            for org in orgs {
                let port = try await databases.withConnection(org: org) { connection in
                    try await connection.query("SELECT current_setting('port')::int", logger: Self.logger).collect()[0]
                        .decode(Int.self)
                }
                #expect(port == (try await env.placement(org).1.port))
            }
            await databases.closeAll()
            // A draining server gets no new orgs.
            try await env.client.withConnection {
                _ = try await ServerStore(box: env.box, logger: Self.logger).setStatus(
                    name: "b", status: "draining", on: $0)
            }
            let later = try await env.provisioned("two-5")
            #expect(try await env.placement(later).1.name == "local")
        }
    }

    /// The prediction-tracking triggers, as the org's own role sees them: counts move by one, a run seeds
    /// its work items, progress is kept per state change, and a run completes when every row has a result.
    @Test func resultsTriggersKeepCountsProgressAndCompletion() async throws {
        try await withEnv { env in
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

    /// Tenant changes write their audit event in the org's own transaction (the outbox); the relay moves it to
    /// the audit log exactly once, whether it was interrupted before the relay ran or after the append.
    @Test func tenantAuditEventsReachTheLogExactlyOnce() async throws {
        try await withEnv { env in
            let org = try await env.provisioned("outbox")
            let databases = TenantDatabases(
                metadata: env.client, box: env.box, settings: env.settings, logger: Self.logger)
            let relay = AuditRelay(metadata: env.client, tenants: databases, logger: Self.logger)
            defer { Task { await databases.closeAll() } }
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
            // Died after appending the record but before marking the outbox: delivered again, recorded once.
            let second = AuditEvent(
                org: org, actorKind: .apiKey, actorDisplay: "tsk_x", action: .datasetCreate, entityType: "dataset",
                entityID: "2")
            try await databases.change(org: org, logger: Self.logger) { _, trail in try await trail.write(second) }
            try await env.client.withConnection { try await AuditStore(logger: Self.logger).append(second, on: $0) }
            #expect(try await relay.relay(org) == 1)
            #expect(try await count(second.eventID) == 1)
            let pending = try await databases.withConnection(org: org) {
                try await AuditOutbox.pending(limit: 10, on: $0, logger: Self.logger)
            }
            #expect(pending.isEmpty)
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
        try await withEnv { env in
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
        try await withEnv { env in
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
        try await withEnv { env in
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
        try await withEnv { env in
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
