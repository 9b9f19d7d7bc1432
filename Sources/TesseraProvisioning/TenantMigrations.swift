import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `tessera migrate`: the metadata database, then every server's results template, then every org
/// database (a few at a time; one failing org does not stop the others, and a re-run resumes).
public struct TenantMigrations: Sendable {
    public struct OrgOutcome: Sendable {
        public let org: UUID
        public let database: String
        public let applied: [String]
        public let version: String?
        public let error: String?
    }

    public struct Report: Sendable {
        public var metadata: [String] = []
        public var templates: [String: [String]] = [:]
        public var orgs: [OrgOutcome] = []
        public var failures: Int { orgs.filter { $0.error != nil }.count }
    }

    let settings: Settings
    let box: SecretBox
    let logger: Logger
    let parallelism: Int

    public init(settings: Settings, box: SecretBox, parallelism: Int = 4, logger: Logger) {
        self.settings = settings
        self.box = box
        self.parallelism = parallelism
        self.logger = logger
    }

    public func metaMigrator() throws -> Migrator {
        try Migrator(files: Migrator.loadFiles(from: settings.paths.metaMigrations), logger: logger)
    }

    public func resultsMigrator() throws -> Migrator {
        try Migrator(files: Migrator.loadFiles(from: settings.paths.resultsMigrations), logger: logger)
    }

    /// Migrates everything; `progress` hears one line per org.
    public func run(progress: @Sendable (String) -> Void = { _ in }) async throws -> Report {
        var report = Report()
        let meta = try metaMigrator()
        let results = try resultsMigrator()
        let servers = try await settings.database.withConnection(as: .admin, logger: logger) { connection in
            report.metadata = try await meta.migrate(on: connection)
            try await registerLocalServer(on: connection)
            return try await ServerStore(box: box, logger: logger).all(tls: settings.database.tls, on: connection)
        }
        for server in servers {
            report.templates[server.name] = try await ResultsTemplate(
                name: settings.tenants.templateDatabase, migrator: results, logger: logger
            ).prepare(server: server)
        }
        let placements = try await settings.database.withConnection(as: .admin, logger: logger) {
            try await OrgStore(logger: logger).placements(on: $0)
        }
        let byID = Dictionary(uniqueKeysWithValues: servers.map { ($0.id, $0) })
        report.orgs = await withTaskGroup(of: OrgOutcome.self) { group in
            var outcomes: [OrgOutcome] = []
            var iterator = placements.makeIterator()
            func next() -> Bool {
                guard let placement = iterator.next() else { return false }
                group.addTask { await migrate(placement, server: byID[placement.serverID], results: results) }
                return true
            }
            for _ in 0..<parallelism where next() {}
            while let outcome = await group.next() {
                outcomes.append(outcome)
                progress(
                    "\(outcomes.count)/\(placements.count) \(outcome.database): "
                        + (outcome.error.map { "FAILED: \($0)" }
                            ?? (outcome.applied.isEmpty
                                ? "up to date" : "applied \(outcome.applied.joined(separator: ", "))"))
                )
                _ = next()
            }
            return outcomes
        }
        try await settings.database.withConnection(as: .admin, logger: logger) { connection in
            for outcome in report.orgs where outcome.error == nil {
                try await OrgStore(logger: logger).recordSchemaVersion(
                    outcome.org, version: outcome.version, on: connection)
            }
        }
        return report
    }

    func migrate(_ placement: OrgPlacement, server: ServerConnection?, results: Migrator) async -> OrgOutcome {
        guard let server else {
            return OrgOutcome(
                org: placement.org, database: placement.name.value, applied: [], version: nil,
                error: "its server is not registered")
        }
        do {
            let (applied, version) = try await server.withAdminConnection(
                database: placement.name.value, logger: logger
            ) { connection in
                let applied = try await results.migrate(on: connection)
                return (applied, results.files.last?.name)
            }
            return OrgOutcome(
                org: placement.org, database: placement.name.value, applied: applied, version: version, error: nil)
        } catch {
            return OrgOutcome(
                org: placement.org, database: placement.name.value, applied: [], version: nil,
                error: describeDatabaseError(error))
        }
    }

    /// The server the metadata database lives on is registered as `local`, with the admin credentials
    /// of the settings (sealed under the master key).
    func registerLocalServer(on connection: PostgresConnection) async throws {
        try await ServerStore(box: box, logger: logger).upsert(
            name: "local", host: settings.database.host, port: settings.database.port,
            adminUser: settings.database.adminUser, adminPassword: settings.database.adminPassword?.value,
            on: connection)
    }
}
