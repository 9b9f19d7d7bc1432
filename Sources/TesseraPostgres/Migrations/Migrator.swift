import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// What the database holds compared with the migration files.
public struct MigrationStatus: Sendable, Equatable {
    public var applied: [String]
    public var pending: [String]
    /// Applied files whose text changed since (name of the first one), or applied names with no file.
    public var problem: MigrationError?

    public var isCurrent: Bool { pending.isEmpty && problem == nil }
}

public enum MigrationError: Error, Equatable, CustomStringConvertible {
    case checksumChanged(String)
    case unknownApplied(String)
    case failed(file: String, reason: String)

    public var description: String {
        switch self {
        case .checksumChanged(let name):
            "migration \(name) was edited after it was applied (checksum differs): add a new migration instead"
        case .unknownApplied(let name):
            "migration \(name) is applied in the database but no such file exists: is this binary older than the database?"
        case .failed(let file, let reason):
            "migration \(file) failed and was rolled back: \(reason)"
        }
    }
}

/// Applies numbered SQL files in order, each in its own transaction, under an advisory lock,
/// recording name and checksum in `schema_migrations`.
public struct Migrator: Sendable {
    /// Key of the session advisory lock that serialises migrators on one database.

    public let files: [MigrationFile]
    let logger: Logger

    public init(files: [MigrationFile], logger: Logger) throws {
        self.files = try MigrationFile.ordered(files)
        self.logger = logger
    }

    /// Reads every `NNNN_name.sql` in a folder.
    public static func loadFiles(from directory: String) throws -> [MigrationFile] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }
        return try MigrationFile.ordered(
            names.map { name in
                let text = try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)
                return try MigrationFile(name: name, sql: text)
            })
    }

    /// Compares the files with the ledger, without changing anything (and without creating the ledger).
    public func status(on connection: PostgresConnection) async throws -> MigrationStatus {
        let applied = try await appliedMigrations(on: connection)
        return compare(applied: applied)
    }

    /// Applies every pending file; returns the names applied. Refuses to run when an applied file changed.
    @discardableResult
    public func migrate(on connection: PostgresConnection) async throws -> [String] {
        _ = try await connection.sql("SELECT pg_advisory_lock(\(AdvisoryLock.migrations))", logger: logger)
        do {
            let done = try await migrateLocked(on: connection)
            _ = try await connection.sql("SELECT pg_advisory_unlock(\(AdvisoryLock.migrations))", logger: logger)
            return done
        } catch {
            _ = try? await connection.sql("SELECT pg_advisory_unlock(\(AdvisoryLock.migrations))", logger: logger)
            throw error
        }
    }

    private func migrateLocked(on connection: PostgresConnection) async throws -> [String] {
        try await connection.sql(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                name text PRIMARY KEY,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        let status = compare(applied: try await appliedMigrations(on: connection))
        if let problem = status.problem { throw problem }
        var done: [String] = []
        for file in files where status.pending.contains(file.name) {
            let started = ContinuousClock.now
            do {
                try await connection.withTransaction(logger: logger) { tx in
                    for statement in SQLSplitter.statements(file.sql) {
                        // Migration files are part of the release, never client input.
                        try await tx.sql(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await tx.sql(
                        "INSERT INTO schema_migrations (name, checksum) VALUES (\(file.name), \(file.checksum))",
                        logger: logger)
                }
            } catch {
                throw MigrationError.failed(file: file.name, reason: describeDatabaseError(error))
            }
            logger.info(
                "applied migration",
                metadata: ["migration": "\(file.name)", "elapsed": "\(ContinuousClock.now - started)"])
            done.append(file.name)
        }
        return done
    }

    private func appliedMigrations(on connection: PostgresConnection) async throws -> [(String, String)] {
        let exists =
            try await connection.sql(
                "SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger
            ).collect().first?.decode(Bool.self) ?? false
        guard exists else { return [] }
        var applied: [(String, String)] = []
        for try await row in try await connection.sql(
            "SELECT name, checksum FROM schema_migrations ORDER BY name", logger: logger)
        {
            applied.append(try row.decode((String, String).self))
        }
        return applied
    }

    func compare(applied: [(String, String)]) -> MigrationStatus {
        let byName = Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0) })
        var problem: MigrationError?
        for (name, checksum) in applied where problem == nil {
            guard let file = byName[name] else {
                problem = .unknownApplied(name)
                break
            }
            if file.checksum != checksum { problem = .checksumChanged(name) }
        }
        let appliedNames = Set(applied.map(\.0))
        return MigrationStatus(
            applied: applied.map(\.0),
            pending: files.map(\.name).filter { !appliedNames.contains($0) },
            problem: problem)
    }
}
