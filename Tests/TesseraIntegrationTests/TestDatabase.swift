import Foundation
import HummingbirdTesting
import Logging
import PostgresNIO
import TesseraCore
import TesseraGateway
import TesseraPostgres
import TesseraProvisioning
import Testing

/// A throw-away database on the cluster `provisioning/postgres` started, for one test.
struct TestDatabase {
    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel =
            ProcessInfo.processInfo.environment["TESSERA_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            ?? .error
        return logger
    }()

    /// The repository root, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .path

    /// Settings from the environment that provisioning/test exports, pointed at `database`.
    static func settings(database: String) throws -> Settings {
        let environment = ProcessInfo.processInfo.environment
        guard environment["TESSERA_DB_ADMIN_PASSWORD"] != nil else {
            Issue.record("TESSERA_DB_* are not set: run the tests through provisioning/test, which starts PostgreSQL")
            throw CancellationError()
        }
        var settings = try SettingsLoader.load(environment: environment, dotEnv: nil, yaml: nil).settings
        settings.database.name = database
        settings.database.poolSize = 8
        // The suite runs its tests in parallel on CI's two cores, with Argon2 hashes, bulk uploads and reference
        // evaluators among them: a database wait there has been seen to pass the 3-s default and answer a spurious
        // 503. The tests that are about deadlines set their own (OutageTests).
        settings.tenants.deadlineMilliseconds = 10_000
        settings.paths.metaMigrations = "\(root)/migrations-meta"
        settings.paths.resultsMigrations = "\(root)/migrations-results"
        settings.paths.dataDir = NSTemporaryDirectory() + "tessera-test-\(UUID().uuidString)"
        settings.paths.artifactRoot = settings.paths.dataDir + "/artifacts"
        // Each test database has its own results template, so tests never share one.
        settings.tenants.templateDatabase = database + "_tpl"
        // Many gateways run at once in the suite: each metrics listener on a port of its own.
        settings.metrics.port = 0
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
            // Locked down like the real metadata database (provisioning/postgres does the same to it).
            try await connection.query(
                PostgresQuery(unsafeSQL: "REVOKE CONNECT, TEMPORARY ON DATABASE \"\(name)\" FROM PUBLIC"),
                logger: logger)
            try await connection.query(
                PostgresQuery(unsafeSQL: "GRANT CONNECT ON DATABASE \"\(name)\" TO tessera_app"), logger: logger)
        }
        do {
            if migrated { try await migrate(settings) }
            let result = try await body(settings)
            await drop(name, settings: settings, metaName: metaName)
            try? FileManager.default.removeItem(atPath: settings.paths.dataDir)
            return result
        } catch {
            await drop(name, settings: settings, metaName: metaName)
            try? FileManager.default.removeItem(atPath: settings.paths.dataDir)
            // PSQLError hides the server's message from its description; a failing test needs it.
            if error is PSQLError || error is PostgresTransactionError {
                Issue.record("database error: \(describeDatabaseError(error))")
            }
            throw error
        }
    }

    /// The built `tessera` with `arguments`, set up (not started) to use the test's databases and folders.
    static func tesseraProcess(_ arguments: [String], _ settings: Settings, environment extra: [String: String] = [:])
        -> Process
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(root)/.build/debug/tessera")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        var environment = ProcessInfo.processInfo.environment
        environment["TESSERA_DB_NAME"] = settings.database.name
        environment["TESSERA_TENANTS_TEMPLATE_DATABASE"] = settings.tenants.templateDatabase
        environment["TESSERA_ARTIFACT_ROOT"] = settings.paths.artifactRoot
        environment["TESSERA_DATA_DIR"] = settings.paths.dataDir
        environment["TESSERA_LOG_LEVEL"] = "error"
        environment["TESSERA_METRICS_PORT"] = "0"
        environment.merge(extra) { $1 }
        process.environment = environment
        return process
    }

    static func migrate(_ settings: Settings) async throws {
        let migrator = try Migrator(files: Migrator.loadFiles(from: settings.paths.metaMigrations), logger: logger)
        try await settings.database.withConnection(as: .admin, logger: logger) { try await migrator.migrate(on: $0) }
    }

    /// A fresh database with tenants prepared and its platform admin key, and the application on it.
    static func withTenantApp(
        _ body: @escaping @Sendable (Settings, APIKey, any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withFresh { settings in
            try await prepareTenants(settings)
            let platform = try await AccessFixture.platformKey(settings)
            let app = try buildApplication(settings: settings, logger: logger)
            try await app.test(.router) { client in try await body(settings, platform, client) }
        }
    }

    /// Migrates the metadata database, registers the local server and prepares this test's template.
    static func prepareTenants(_ settings: Settings) async throws {
        _ = try await TenantMigrations(settings: settings, box: try box(settings), logger: logger).run()
    }

    static func box(_ settings: Settings) throws -> SecretBox {
        try SecretBox(masterKeyBase64: settings.tenants.masterKey!.value)
    }

    /// Registers the second cluster provisioning/test starts as server "b", and prepares its template.
    static func addServerB(_ settings: Settings) async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let port = environment["TESSERA_TEST_SERVER_B_PORT"].flatMap(Int.init),
            let password = environment["TESSERA_TEST_SERVER_B_ADMIN_PASSWORD"]
        else {
            Issue.record(
                "TESSERA_TEST_SERVER_B_* are not set: run the tests through provisioning/test, which starts cluster b")
            throw CancellationError()
        }
        try await settings.database.withConnection(as: .admin, logger: logger) { connection in
            try await ServerStore(box: try box(settings), logger: logger).upsert(
                name: "b", host: settings.database.host, port: port, adminUser: settings.database.adminUser,
                adminPassword: password,
                on: connection)
        }
        try await prepareTenants(settings)
    }

    /// Drops the test's org databases and roles and its templates on every server, then the database itself.
    static func drop(_ name: String, settings: Settings, metaName: String) async {
        if let box = try? box(settings) {
            _ = try? await settings.database.withConnection(as: .admin, logger: logger) { connection -> Void in
                guard
                    try await connection.query("SELECT to_regclass('org_databases') IS NOT NULL", logger: logger)
                        .collect()[0].decode(
                            Bool.self)
                else { return }
                let placements = try await OrgStore(logger: logger).placements(on: connection)
                for server in try await ServerStore(box: box, logger: logger).all(
                    tls: settings.database.tls, on: connection)
                {
                    _ = try? await server.withAdminConnection(database: "postgres", logger: logger) { admin in
                        for placement in placements where placement.serverID == server.id {
                            try await admin.query(
                                PostgresQuery(
                                    unsafeSQL: "DROP DATABASE IF EXISTS \(placement.name.quoted) WITH (FORCE)"),
                                logger: logger)
                            try await OrgRoles.drop(placement.name, on: admin, logger: logger)
                        }
                        try await admin.query(
                            PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(name)_tpl\" WITH (FORCE)"),
                            logger: logger)
                    }
                }
            }
        }
        _ = try? await settings.database.withConnection(as: .admin, database: metaName, logger: logger) { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(name)_tpl\" WITH (FORCE)"), logger: logger)
            try await connection.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)"), logger: logger)
        }
    }
}
