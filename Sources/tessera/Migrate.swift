import ArgumentParser
import Foundation
import TesseraCore
import TesseraPostgres

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending metadata migrations (as the admin role), or list applied and pending with --status.",
        discussion: """
            Each file of the migrations folder (NNNN_name.sql) runs in its own transaction under an advisory lock, \
            so concurrent runs wait for each other. A file edited after it was applied is refused.
            """)

    @OptionGroup var options: GlobalOptions

    @Flag(help: "Only show which migrations are applied and which are pending.")
    var status = false

    func run() async throws {
        let settings = try options.loadSettings().settings
        let logger = makeLogger(settings)
        let migrator = try Migrator(files: Migrator.loadFiles(from: settings.paths.metaMigrations), logger: logger)
        let database = settings.database.name
        try await reportingErrors {
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                if status {
                    let s = try await migrator.status(on: connection)
                    print("metadata database \(database):")
                    for name in s.applied { print("  applied  \(name)") }
                    for name in s.pending { print("  pending  \(name)") }
                    if let problem = s.problem { print("  problem  \(problem)") }
                    if s.problem != nil { throw ExitCode(2) }
                } else {
                    let applied = try await migrator.migrate(on: connection)
                    print(applied.isEmpty
                        ? "metadata database \(database): up to date (\(migrator.files.count) migrations)"
                        : "metadata database \(database): applied \(applied.joined(separator: ", "))")
                }
            }
        }
    }
}
