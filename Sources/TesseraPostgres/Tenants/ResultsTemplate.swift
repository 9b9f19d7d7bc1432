import Logging
import PostgresNIO
import TesseraCore

/// `tessera_results_template`: the database every org's results database is cloned from, kept at the
/// latest results migration. Nobody stays connected to it (a clone fails while anyone is).
public struct ResultsTemplate: Sendable {
    /// From the settings, where it was checked to be a plain identifier.
    public let name: String
    let migrator: Migrator
    let logger: Logger

    public init(name: String, migrator: Migrator, logger: Logger) {
        self.name = name
        self.migrator = migrator
        self.logger = logger
    }

    /// Creates the template on the server when missing, then applies pending results migrations to it.
    @discardableResult
    public func prepare(server: ServerConnection) async throws -> [String] {
        try await server.withAdminConnection(database: "postgres", logger: logger) { connection in
            let exists = try await connection.sql(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = \(name))", logger: logger
            ).collect()[0].decode(Bool.self)
            if !exists {
                do {
                    try await connection.sql(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
                } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P04" {
                    // Another process created it a moment ago.
                }
                try await connection.sql(
                    PostgresQuery(unsafeSQL: "REVOKE CONNECT, TEMPORARY ON DATABASE \(name) FROM PUBLIC"),
                    logger: logger)
            }
        }
        return try await server.withAdminConnection(database: name, logger: logger) { connection in
            try await migrator.migrate(on: connection)
        }
    }
}
