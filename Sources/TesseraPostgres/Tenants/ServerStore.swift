import Foundation
import Logging
import NIOSSL
import PostgresNIO
import TesseraCore

/// How to reach one PostgreSQL server as its admin role (for provisioning) or as an org's role.
public struct ServerConnection: Sendable {
    public let id: UUID
    public let name: String
    public let host: String
    public let port: Int
    public let adminUser: String
    public let adminPassword: String?
    let tls: Settings.DatabaseTLS

    public init(
        id: UUID, name: String, host: String, port: Int, adminUser: String, adminPassword: String?,
        tls: Settings.DatabaseTLS
    ) {
        self.id = id
        self.name = name
        self.host = host
        self.port = port
        self.adminUser = adminUser
        self.adminPassword = adminPassword
        self.tls = tls
    }

    public func connectionConfiguration(user: String, password: String?, database: String) throws
        -> PostgresConnection.Configuration
    {
        try tls.check(host: host)
        return PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database,
            tls: try Settings.Database.connectionTLS(tls))
    }

    /// Runs `body` on a fresh connection to an org's database as the org's own role (tests and checks).
    public func withOrgConnection<T: Sendable>(
        _ name: OrgDatabaseName, password: String, database: String? = nil, logger: Logger,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withSingleConnection(
            try connectionConfiguration(user: name.value, password: password, database: database ?? name.value),
            logger: logger, body)
    }

    /// Runs `body` on a fresh admin connection to `database` on this server, closed afterwards.
    public func withAdminConnection<T: Sendable>(
        database: String, logger: Logger, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withSingleConnection(
            try connectionConfiguration(user: adminUser, password: adminPassword, database: database), logger: logger,
            body)
    }
}

/// The database servers that hold org databases, and placement on them.
public struct ServerStore: Sendable {
    let box: SecretBox
    let logger: Logger

    public init(box: SecretBox, logger: Logger) {
        self.box = box
        self.logger = logger
    }

    /// Registers (or updates) a server; the admin password is sealed under the master key.
    @discardableResult
    public func upsert(
        name: String, host: String, port: Int, adminUser: String, adminPassword: String?, maxDatabases: Int = 1000,
        on connection: PostgresConnection
    ) async throws -> UUID {
        let id = try await connection.sql(
            """
            INSERT INTO database_servers (name, host, port, admin_user, max_databases) VALUES (\(name), \(host), \(port), \(adminUser), \(maxDatabases))
            ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port, admin_user = EXCLUDED.admin_user
            RETURNING id
            """, logger: logger
        ).collect()[0].decode(UUID.self)
        let sealed = try adminPassword.map { ByteBuffer(bytes: try box.seal($0, for: id)) }
        try await connection.sql(
            "UPDATE database_servers SET admin_password_ciphertext = \(sealed) WHERE id = \(id)", logger: logger)
        return id
    }

    public func setStatus(name: String, status: String, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.sql(
            "UPDATE database_servers SET status = \(status)::server_status WHERE name = \(name) RETURNING id",
            logger: logger)
        return try await !rows.collect().isEmpty
    }

    public struct ServerSummary: Sendable {
        public let name: String
        public let host: String
        public let port: Int
        public let status: String
        public let orgs: Int
        public let maxDatabases: Int
    }

    /// Whether a server of that name is registered.
    public func exists(name: String, on connection: PostgresConnection) async throws -> Bool {
        try await connection.sql(
            "SELECT EXISTS (SELECT 1 FROM database_servers WHERE name = \(name))", logger: logger
        )
        .collect()[0].decode(Bool.self)
    }

    public func list(on connection: PostgresConnection) async throws -> [ServerSummary] {
        let rows = try await connection.sql(
            """
            SELECT s.name, s.host, s.port, s.status::text, count(d.org_id)::int, s.max_databases
            FROM database_servers s LEFT JOIN org_databases d ON d.server_id = s.id
            GROUP BY s.id ORDER BY s.name
            """, logger: logger)
        var result: [ServerSummary] = []
        for try await (name, host, port, status, orgs, max) in rows.decode((String, String, Int, String, Int, Int).self)
        {
            result.append(
                ServerSummary(name: name, host: host, port: port, status: status, orgs: orgs, maxDatabases: max))
        }
        return result
    }

    /// The active server with room and the fewest orgs relative to its size (or the one named).
    public func place(named: String?, on connection: PostgresConnection) async throws -> UUID? {
        let rows = try await connection.sql(
            """
            SELECT s.id FROM database_servers s LEFT JOIN org_databases d ON d.server_id = s.id
            WHERE s.status = 'active' AND (\(named)::text IS NULL OR s.name = \(named))
            GROUP BY s.id HAVING count(d.org_id) < s.max_databases
            ORDER BY count(d.org_id)::float8 / s.max_databases, s.name
            LIMIT 1
            """, logger: logger)
        return try await rows.collect().first?.decode(UUID.self)
    }

    public func connection(server id: UUID, tls: Settings.DatabaseTLS, on connection: PostgresConnection) async throws
        -> ServerConnection?
    {
        let rows = try await connection.sql(
            "SELECT name, host, port, admin_user, admin_password_ciphertext FROM database_servers WHERE id = \(id)",
            logger: logger)
        guard let row = try await rows.collect().first else { return nil }
        let (name, host, port, adminUser, sealed) = try row.decode((String, String, Int, String, ByteBuffer?).self)
        let password = try sealed.map { try box.open(Array(buffer: $0), for: id) }
        return ServerConnection(
            id: id, name: name, host: host, port: port, adminUser: adminUser, adminPassword: password, tls: tls)
    }

    public func all(tls: Settings.DatabaseTLS, on connection: PostgresConnection) async throws -> [ServerConnection] {
        let ids = try await connection.sql("SELECT id FROM database_servers ORDER BY name", logger: logger)
            .collect().map { try $0.decode(UUID.self) }
        var result: [ServerConnection] = []
        for id in ids {
            if let server = try await self.connection(server: id, tls: tls, on: connection) { result.append(server) }
        }
        return result
    }
}
