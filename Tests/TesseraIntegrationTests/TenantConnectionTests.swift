import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

@testable import TesseraCore
@testable import TesseraGateway
@testable import TesseraPostgres
@testable import TesseraProvisioning

/// Connections to org databases: each org's role reaches only its own database, by a server's address or its name,
/// the budget holds, and an unreachable database costs only its own org.
@Suite struct TenantConnectionTests {
    static let logger = TestDatabase.logger

    @Test func anOrgsRoleReachesOnlyItsOwnDatabase() async throws {
        try await TenantEnv.with { env in
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

    /// A server entered by address is reached on a channel `TenantDatabases.connect` connects itself (no resolver);
    /// one entered by name through PostgresNIO. Either way the connection is the org's role in its database, and a
    /// wrong password is refused and leaves no session behind.
    @Test func anOrgDatabaseIsReachedByTheServersAddressAndByItsName() async throws {
        try await TenantEnv.with { env in
            let org = try await env.provisioned("by-address")
            let (placement, server, password) = try await env.placement(org)
            let role = placement.name.value
            for host in ["127.0.0.1", "localhost"] {
                let target = PostgresConnection.Configuration(
                    host: host, port: server.port, username: role, password: password, database: role, tls: .disable)
                let connection = try await TenantDatabases.connect(target, logger: Self.logger)
                let row = try await connection.query(
                    "SELECT current_user::text, current_database()::text, inet_server_addr()::text",
                    logger: Self.logger
                ).collect()[0]
                try await connection.close()
                let (user, database, address) = try row.decode((String, String, String?).self)
                #expect(user == role && database == role, "\(host)")
                #expect(address != nil, "\(host): not a TCP connection")
                var wrong = target
                wrong.password = "not-the-password"
                await #expect(throws: PSQLError.self, "\(host)") {
                    _ = try await TenantDatabases.connect(wrong, logger: Self.logger)
                }
            }
            // A backend leaves pg_stat_activity a moment after its client has gone.
            var sessions = -1
            for _ in 0..<100 where sessions != 0 {
                sessions = try await env.settings.database.withConnection(as: .admin, logger: Self.logger) {
                    try await $0.query(
                        "SELECT count(*)::int FROM pg_stat_activity WHERE usename = \(role)", logger: Self.logger
                    ).collect()[0].decode(Int.self)
                }
                if sessions != 0 { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(sessions == 0)
        }
    }

    @Test func poolsStayWithinTheirBounds() async throws {
        let small: (inout Settings) -> Void = {
            $0.tenants.maxPerOrg = 2
            $0.tenants.maxConnections = 4
        }
        try await TenantEnv.with(configure: small) { env in
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
                        try await databases.withConnection(org: org, logger: Self.logger) { connection in
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
        try await TenantEnv.with { env in
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
                try await databases.withConnection(org: down, logger: Self.logger) { _ in 1 }
            }
            do {
                _ = try await databases.withConnection(org: down, logger: Self.logger) { _ in 1 }
            } catch let error as TesseraError {
                #expect(error.statusCode == 503)
            }
            #expect(try await databases.withConnection(org: up, logger: Self.logger) { _ in 1 } == 1)
            await databases.closeAll()
            try await env.settings.database.withConnection(as: .admin, logger: Self.logger) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "ALTER DATABASE \(downName.quoted) ALLOW_CONNECTIONS true"),
                    logger: Self.logger)
            }
        }
    }
}
