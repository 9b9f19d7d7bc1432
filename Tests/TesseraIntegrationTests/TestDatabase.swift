import Foundation
import Logging
import PostgresNIO
import Testing
import TesseraCore
import TesseraPostgres

/// A throw-away database on the cluster `provisioning/postgres` started, for one test.
struct TestDatabase {
    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return logger
    }()

    /// The repository root, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Settings from the environment that provisioning/test exports, pointed at `database`.
    static func settings(database: String) throws -> Settings {
        let environment = ProcessInfo.processInfo.environment
        guard environment["TESSERA_DB_ADMIN_PASSWORD"] != nil else {
            Issue.record("TESSERA_DB_* are not set: run the tests through provisioning/test, which starts PostgreSQL")
            throw CancellationError()
        }
        var settings = try SettingsLoader.load(environment: environment, dotEnv: nil, yaml: nil).settings
        settings.database.name = database
        settings.database.poolSize = 4
        settings.paths.metaMigrations = "\(root)/migrations-meta"
        settings.paths.dataDir = NSTemporaryDirectory() + "tessera-test-\(UUID().uuidString)"
        return settings
    }

    /// Creates an empty database, runs `body` with settings pointing at it, then drops it.
    static func withFresh<T: Sendable>(migrated: Bool = false, _ body: (Settings) async throws -> T) async throws -> T {
        let name = "tessera_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let settings = try settings(database: name)
        let metaName = ProcessInfo.processInfo.environment["TESSERA_DB_NAME"] ?? "tessera_meta"
        try await settings.database.withConnection(as: .admin, database: metaName, logger: logger) { connection in
            // The name is made here from a UUID, never from input.
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
        }
        do {
            if migrated { try await migrate(settings) }
            let result = try await body(settings)
            await drop(name, settings: settings, metaName: metaName)
            return result
        } catch {
            await drop(name, settings: settings, metaName: metaName)
            throw error
        }
    }

    static func migrate(_ settings: Settings) async throws {
        let migrator = try Migrator(files: Migrator.loadFiles(from: settings.paths.metaMigrations), logger: logger)
        try await settings.database.withConnection(as: .admin, logger: logger) { try await migrator.migrate(on: $0) }
    }

    static func drop(_ name: String, settings: Settings, metaName: String) async {
        _ = try? await settings.database.withConnection(as: .admin, database: metaName, logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)"), logger: logger)
        }
    }
}
