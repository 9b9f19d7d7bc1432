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

/// Provisioning an org, from the API or the CLI, across crashes, failures, retries, suspension, purging, migrations and
/// two servers.
@Suite struct TenantProvisioningTests {
    static let logger = TestDatabase.logger

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
                let owner_invited: Bool?
            }
            let body = try JSONDecoder().decode(Created.self, from: Data(buffer: created.body))
            #expect(body.org.slug == "acme-labs")
            #expect(body.org.status == "provisioning")
            #expect(body.owner_invited == true)
            #expect(TestMail.tokens(in: String(buffer: created.body)).isEmpty)
            #expect(try await TestMail.invitationToken(for: "ada@example.org", settings).hasPrefix("tss_"))
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

    /// A new org database is closed to connections until PUBLIC's privileges are gone; afterwards only the
    /// org's role connects, without temporary tables or objects of its own in schema public.
    @Test func anOrgDatabaseIsNeverOpenToOthers() async throws {
        try await TenantEnv.with { env in
            let store = OrgStore(logger: Self.logger)
            let org = try await env.createOrg("locked")
            for step in ProvisioningStep.allCases.prefix(while: { $0 != .lockDown }) {
                try await env.client.withConnection { try await store.beginStep(step, org: org, on: $0) }
                try await env.provisioner.run(step, org: org)
                try await env.client.withConnection { try await store.finishStep(step, org: org, on: $0) }
            }
            let (placement, server, _) = try await env.placement(org)
            let name = placement.name.value
            func state() async throws -> (allowConnections: Bool, publicConnect: Bool, publicTemp: Bool, roleTemp: Bool)
            {
                try await server.withAdminConnection(database: "postgres", logger: Self.logger) { connection in
                    try await connection.query(
                        """
                        SELECT datallowconn, has_database_privilege('public', datname, 'CONNECT'),
                               has_database_privilege('public', datname, 'TEMPORARY'),
                               EXISTS (SELECT 1 FROM pg_roles WHERE rolname = \(name))
                                 AND has_database_privilege(\(name), datname, 'TEMPORARY')
                        FROM pg_database WHERE datname = \(name)
                        """, logger: Self.logger
                    ).collect()[0].decode((Bool, Bool, Bool, Bool).self)
                }
            }
            // Created, not yet locked down: nobody can connect, PUBLIC's default privileges notwithstanding.
            let created = try await state()
            #expect(!created.allowConnections, "\(created)")
            let service = ProvisioningService(provisioner: env.provisioner, metadata: env.client, logger: Self.logger)
            try await service.pass()
            #expect(try await env.status(org) == .ready)
            let ready = try await state()
            #expect(ready.allowConnections && !ready.publicConnect && !ready.publicTemp && !ready.roleTemp, "\(ready)")
            let createInPublic = try await server.withAdminConnection(database: name, logger: Self.logger) {
                try await $0.query(
                    "SELECT has_schema_privilege(\(name), 'public', 'CREATE')", logger: Self.logger
                ).collect()[0].decode(Bool.self)
            }
            #expect(!createInPublic)
            // The role's verifier carries few PBKDF2 iterations (its password is 256 random bits): psql fails
            // unless it does.
            let iterations = DatabasePowerTests.superuser(
                cluster: "",
                """
                DO $$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_authid WHERE rolname = '\(name)'
                                   AND rolpassword LIKE 'SCRAM-SHA-256$\(ScramVerifier.orgRoleIterations):%') THEN
                        RAISE EXCEPTION 'not the org role iterations';
                    END IF;
                END $$;
                """)
            #expect(iterations == 0)
        }
    }

    @Test func aCrashAfterAnyStepStillEndsReadyWithNothingDoubled() async throws {
        try await TenantEnv.with { env in
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
        try await TenantEnv.with { env in
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

    @Test func aStepThatFailsForAPassingReasonIsTakenAgainOnItsOwn() async throws {
        try await TenantEnv.with { env in
            let org = try await env.createOrg("busy-template")
            let store = OrgStore(logger: Self.logger)
            // A session on the template makes CREATE DATABASE fail (55006) after PostgreSQL's 5-s wait.
            try await env.settings.database.withConnection(
                as: .admin, database: env.settings.tenants.templateDatabase, logger: Self.logger
            ) { _ in try await env.provisioner.provision(org) }
            #expect(try await env.status(org) == .provisioning, "not failed: nobody has to retry it")
            let deferred = try #require(
                try await env.client.withConnection { try await store.steps(org, on: $0) }
                    .first { $0.step == .createDatabase })
            #expect(deferred.status == .pending && deferred.attempts == 1, "\(deferred)")
            #expect(deferred.error?.contains("55006") == true, "\(deferred)")
            let due = try #require(Provisioner.retryDue(deferred))
            #expect(due == deferred.finishedAt!.addingTimeInterval(1))
            // The template free, a pass after the pause finishes the org, as the service's passes do.
            let service = ProvisioningService(provisioner: env.provisioner, metadata: env.client, logger: Self.logger)
            let deadline = ContinuousClock.now + .seconds(30)
            while try await env.status(org) != .ready, ContinuousClock.now < deadline {
                try await service.pass()
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(try await env.status(org) == .ready)
            let steps = try await env.client.withConnection { try await store.steps(org, on: $0) }
            #expect(steps.allSatisfy { $0.status == .done && $0.error == nil }, "\(steps)")
            #expect(steps.first { $0.step == .createDatabase }?.attempts == 2)
            let records = try await env.client.withConnection { connection in
                try await connection.query(
                    """
                    SELECT action, metadata->>'retry' FROM audit_logs
                    WHERE org_id = \(org) AND action LIKE 'org.provision%' ORDER BY seq
                    """, logger: Self.logger
                ).collect().map { try $0.decode((String, String?).self) }
            }
            let failures = records.filter { $0.0 == "org.provision_fail" }
            #expect(failures.count == 1 && failures.first?.1 == "automatic, after attempt 1 of 8", "\(records)")
        }
    }

    @Test func migrateAllReportsABrokenOrgAndMigratesTheRest() async throws {
        try await TenantEnv.with { env in
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
        try await TenantEnv.with { env in
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
        try await TenantEnv.with { env in
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
                let port = try await databases.withConnection(org: org, logger: Self.logger) { connection in
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
}
