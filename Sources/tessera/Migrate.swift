import ArgumentParser
import Foundation
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Migrate the metadata database, every server's results template, then every org database.",
        discussion: """
            Each file (NNNN_name.sql) runs in its own transaction under an advisory lock, so concurrent runs wait \
            for each other; a file edited after it was applied is refused. Org databases are migrated four at a \
            time; one failing org does not stop the others, is reported, and exits 1; a re-run resumes.
            """)

    @OptionGroup var options: GlobalOptions

    @Flag(help: "Only show what is applied and pending, and every org database's version.")
    var status = false

    func run() async throws {
        if status { return try await showStatus() }
        let settings = try options.loadSettings().settings
        let logger = makeLogger(settings)
        let box = try await options.secretBox(settings)
        var failures = 0
        try await reportingErrors {
            let report = try await TenantMigrations(settings: settings, box: box, logger: logger).run {
                print("  org \($0)")
            }
            print(
                "metadata database \(settings.database.name): "
                    + (report.metadata.isEmpty ? "up to date" : "applied \(report.metadata.joined(separator: ", "))"))
            for (server, applied) in report.templates.sorted(by: { $0.key < $1.key }) {
                print(
                    "results template on \(server): "
                        + (applied.isEmpty ? "up to date" : "applied \(applied.joined(separator: ", "))"))
            }
            print("org databases: \(report.orgs.count - report.failures) current, \(report.failures) failed")
            failures = report.failures
        }
        if failures > 0 { throw ExitCode.failure }
    }

    func showStatus() async throws {
        let settings = try options.loadSettings().settings
        let logger = makeLogger(settings)
        let migrations = TenantMigrations(
            settings: settings, box: try await options.secretBox(settings), logger: logger)
        let meta = try migrations.metaMigrator()
        let results = try migrations.resultsMigrator()
        try await reportingErrors {
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                let s = try await meta.status(on: connection)
                print("metadata database \(settings.database.name):")
                for name in s.applied { print("  applied  \(name)") }
                for name in s.pending { print("  pending  \(name)") }
                if let problem = s.problem { print("  problem  \(problem)") }
                let orgs = try await OrgStore(logger: logger).list(
                    status: nil, after: nil, limit: 100_000, on: connection)
                let latest = results.files.last?.name ?? "-"
                print("org databases (latest results migration: \(latest)):")
                for org in orgs where org.server != nil {
                    let mark = org.schemaVersion == latest ? "current" : "behind "
                    print(
                        "  \(mark)  \(OrgDatabaseName(org: org.id))  \(org.schemaVersion ?? "-")  \(org.slug) on \(org.server ?? "-")"
                    )
                }
                if s.problem != nil { throw ExitCode(2) }
            }
        }
    }
}
