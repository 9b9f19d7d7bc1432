import Foundation
import Logging
import PostgresNIO
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraProvisioning

/// A fresh metadata database with tenants prepared, a running metadata pool, and a provisioner: what the
/// tenant, workload and job tests start from.
struct TenantEnv: Sendable {
    let settings: Settings
    let client: PostgresClient
    let box: SecretBox
    var provisioner: Provisioner {
        Provisioner(metadata: client, box: box, settings: settings, logger: TestDatabase.logger)
    }

    func createOrg(_ slug: String, server: String? = nil) async throws -> UUID {
        try await client.withConnection {
            try await OrgStore(logger: TestDatabase.logger).create(
                slug: slug, name: slug, owner: nil, server: server, on: $0)!.id
        }
    }

    /// A new org, provisioned. A step that fails for a passing reason (a busy template, a deadline on a loaded
    /// machine) is pending again after a pause: it is taken again, as the provisioning service would, for up to
    /// three minutes; the steps' errors are in the failure's message.
    func provisioned(_ slug: String) async throws -> UUID {
        let org = try await createOrg(slug)
        let giveUp = ContinuousClock.now + .seconds(180)
        try await provisioner.provision(org)
        while try await status(org) == .provisioning, ContinuousClock.now < giveUp {
            try await Task.sleep(for: .milliseconds(250))
            try await provisioner.provision(org)
        }
        let steps = try await client.withConnection {
            try await OrgStore(logger: TestDatabase.logger).steps(org, on: $0)
        }
        #expect(
            try await status(org) == .ready,
            "\(steps.map { "\($0.step.rawValue) \($0.status) after \($0.attempts): \($0.error ?? "-")" })")
        return org
    }

    /// As `with`, and an org provisioned as `slug`, tenant connections and an audit relay of the test's own (no
    /// gateway), for `body`.
    static func withRelay(
        _ slug: String, _ body: (TenantEnv, UUID, TenantDatabases, AuditRelay) async throws -> Void
    ) async throws {
        try await with { env in
            let org = try await env.provisioned(slug)
            let databases = TenantDatabases(
                metadata: env.client, box: env.box, settings: env.settings, logger: TestDatabase.logger)
            let relay = AuditRelay(metadata: env.client, tenants: databases, logger: TestDatabase.logger)
            defer { Task { await databases.closeAll() } }
            try await body(env, org, databases, relay)
        }
    }

    func status(_ org: UUID) async throws -> OrgStatus? {
        try await client.withConnection { try await OrgStore(logger: TestDatabase.logger).get(org, on: $0)?.status }
    }

    /// Runs `body` while a transaction in the org's database holds the advisory lock `(lockClass, hashtext(id))`
    /// shared, as a job being created or a set being stored holds it; the transaction is rolled back after.
    func holdingSharedLock<T: Sendable>(
        _ org: UUID, _ lockClass: Int32, on id: String, _ body: () async throws -> T
    ) async throws -> T {
        let (placement, server, password) = try await placement(org)
        return try await server.withOrgConnection(placement.name, password: password, logger: TestDatabase.logger) {
            connection in
            try await connection.query("BEGIN", logger: TestDatabase.logger)
            try await connection.query(
                "SELECT pg_advisory_xact_lock_shared(\(lockClass), hashtext(\(id)::uuid::text))",
                logger: TestDatabase.logger)
            let result = try await body()
            try await connection.query("ROLLBACK", logger: TestDatabase.logger)
            return result
        }
    }

    func placement(_ org: UUID) async throws -> (OrgPlacement, ServerConnection, String) {
        try await client.withConnection { connection in
            let placement = try await OrgStore(logger: TestDatabase.logger).placement(org, on: connection)!
            let server = try await ServerStore(box: box, logger: TestDatabase.logger).connection(
                server: placement.serverID, tls: settings.database.tls, on: connection)!
            return (placement, server, try box.open(placement.sealedPassword, for: org))
        }
    }

    /// How many databases and roles named for this org exist on the server.
    func footprint(_ org: UUID) async throws -> (databases: Int, roles: Int) {
        let name = OrgDatabaseName(org: org).value
        return try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) { connection in
            let d = try await connection.query(
                "SELECT count(*)::int FROM pg_database WHERE datname = \(name)", logger: TestDatabase.logger
            )
            .collect()[0].decode(Int.self)
            let r = try await connection.query(
                "SELECT count(*)::int FROM pg_roles WHERE rolname = \(name)", logger: TestDatabase.logger
            )
            .collect()[0].decode(Int.self)
            return (d, r)
        }
    }

    /// A fresh metadata database with tenants prepared (`tune` adjusts its settings first), a running metadata
    /// pool on it, for `body`.
    static func with(configure tune: (inout Settings) -> Void = { _ in }, _ body: (TenantEnv) async throws -> Void)
        async throws
    {
        try await TestDatabase.withFresh { base in
            var settings = base
            tune(&settings)
            try await TestDatabase.prepareTenants(settings)
            let client = PostgresClient(
                configuration: settings.database.clientConfiguration(as: .gateway),
                backgroundLogger: TestDatabase.logger)
            let runner = Task { await client.run() }
            defer { runner.cancel() }
            try await body(TenantEnv(settings: settings, client: client, box: try TestDatabase.box(settings)))
        }
    }
}

extension TenantEnv {
    /// The actions of every record in the org's audit outbox (the tests' app runs no relay), sorted.
    func outboxActions(_ org: UUID) async throws -> [String] {
        let (placement, server, password) = try await placement(org)
        return try await server.withOrgConnection(placement.name, password: password, logger: TestDatabase.logger) {
            try await $0.query("SELECT event->>'action' FROM audit_outbox ORDER BY 1", logger: TestDatabase.logger)
                .collect().map { try $0.decode(String.self) }
        }
    }
}
