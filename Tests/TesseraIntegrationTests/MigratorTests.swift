import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres
import Testing

@Suite struct MigratorTests {
    let logger = TestDatabase.logger

    func files(_ pairs: [(String, String)]) throws -> [MigrationFile] {
        try pairs.map { try MigrationFile(name: $0.0, sql: $0.1) }
    }

    func ledger(_ connection: PostgresConnection) async throws -> [String] {
        try await connection.query("SELECT name FROM schema_migrations ORDER BY name", logger: logger)
            .collect().map { try $0.decode(String.self) }
    }

    @Test func freshDatabaseGetsEveryMetadataMigrationAndReRunIsANoOp() async throws {
        try await TestDatabase.withFresh { settings in
            let migrator = try Migrator(files: Migrator.loadFiles(from: settings.paths.metaMigrations), logger: logger)
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                let before = try await migrator.status(on: connection)
                #expect(before.applied.isEmpty)
                #expect(before.pending == migrator.files.map(\.name))
                let applied = try await migrator.migrate(on: connection)
                #expect(applied == migrator.files.map(\.name))
                #expect(try await migrator.migrate(on: connection).isEmpty)
                let after = try await migrator.status(on: connection)
                #expect(after.isCurrent)
                #expect(try await ledger(connection) == migrator.files.map(\.name))
                // Every table the metadata schema promises exists.
                let tables = try await connection.query(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                    logger: logger
                ).collect().map { try $0.decode(String.self) }
                for table in [
                    "organizations", "users", "roles", "role_permissions", "memberships", "membership_roles",
                    "audit_logs", "task_definitions", "task_services", "pipeline_templates", "pipeline_task_steps",
                    "pipelines", "pipeline_versions", "identity_providers", "identities",
                    "org_settings", "jobs_meta", "tokens", "api_keys", "database_servers", "org_databases",
                ] {
                    #expect(tables.contains(table), "missing table \(table)")
                }
            }
        }
    }

    @Test func editedAppliedFileIsRefusedByName() async throws {
        try await TestDatabase.withFresh { settings in
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                let original = try Migrator(files: files([("0001_a.sql", "CREATE TABLE a (x int);")]), logger: logger)
                try await original.migrate(on: connection)
                let edited = try Migrator(
                    files: files([
                        ("0001_a.sql", "CREATE TABLE a (x bigint);"), ("0002_b.sql", "CREATE TABLE b (y int);"),
                    ]),
                    logger: logger)
                await #expect(throws: MigrationError.checksumChanged("0001_a.sql")) {
                    try await edited.migrate(on: connection)
                }
                #expect(try await edited.status(on: connection).problem == .checksumChanged("0001_a.sql"))
                #expect(try await ledger(connection) == ["0001_a.sql"])  // 0002 was not applied either
            }
        }
    }

    @Test func failingFileIsRolledBackWhole() async throws {
        try await TestDatabase.withFresh { settings in
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                let migrator = try Migrator(
                    files: files([
                        ("0001_ok.sql", "CREATE TABLE ok (x int);"),
                        ("0002_bad.sql", "CREATE TABLE half (x int);\nINSERT INTO nowhere VALUES (1);"),
                    ]), logger: logger)
                do {
                    try await migrator.migrate(on: connection)
                    Issue.record("a failing migration must throw")
                } catch let MigrationError.failed(file, reason) {
                    #expect(file == "0002_bad.sql")
                    #expect(reason.contains("nowhere"))
                }
                #expect(try await ledger(connection) == ["0001_ok.sql"])
                let half = try await connection.query("SELECT to_regclass('half') IS NULL", logger: logger).collect()
                #expect(try half.first?.decode(Bool.self) == true)
            }
        }
    }

    @Test func unknownAppliedMigrationIsReported() async throws {
        try await TestDatabase.withFresh { settings in
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                try await Migrator(
                    files: files([("0001_a.sql", "SELECT 1;"), ("0002_b.sql", "SELECT 2;")]), logger: logger
                )
                .migrate(on: connection)
                let older = try Migrator(files: files([("0001_a.sql", "SELECT 1;")]), logger: logger)
                #expect(try await older.status(on: connection).problem == .unknownApplied("0002_b.sql"))
            }
        }
    }

    @Test func concurrentRunsApplyEachFileOnce() async throws {
        try await TestDatabase.withFresh { settings in
            // A slow first file widens the window in which both runners race.
            let migrator = try Migrator(
                files: files([
                    ("0001_slow.sql", "SELECT pg_sleep(0.3);\nCREATE TABLE counted (x int);"),
                    ("0002_next.sql", "INSERT INTO counted VALUES (1);"),
                ]), logger: logger)
            let results = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await settings.database.withConnection(as: .admin, logger: logger) {
                            try await migrator.migrate(on: $0)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.flatMap { $0 }.sorted() == ["0001_slow.sql", "0002_next.sql"])
            #expect(results.contains([]))
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                let count = try await connection.query("SELECT count(*)::int FROM counted", logger: logger).collect()
                #expect(try count.first?.decode(Int.self) == 1)
            }
        }
    }
}
