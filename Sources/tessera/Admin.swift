import ArgumentParser
import Foundation
import TesseraCore
import TesseraPostgres

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Platform administration.",
        subcommands: [Bootstrap.self])

    struct Bootstrap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the first platform admin API key, unless one exists.",
            discussion: """
                The key is printed once and written, mode 0600, to <data dir>/admin-key. Only its SHA-256 \
                is stored in the database; a lost key cannot be recovered, only replaced.
                """)

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let settings = try options.loadSettings().settings
            let logger = makeLogger(settings)
            var outcome: PlatformAdminKeys.BootstrapResult?
            try await reportingErrors {
                outcome = try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                    try await PlatformAdminKeys(logger: logger).bootstrap(
                        by: .commandLine(osUser: currentOSUser()), on: connection)
                }
            }
            guard let result = outcome else { return }
            switch result {
            case .exists(let prefix):
                print("a platform admin key exists already (\(prefix)_…); nothing created")
            case .created(let key):
                let path = "\(settings.paths.dataDir)/admin-key"
                try FileManager.default.createDirectory(
                    atPath: settings.paths.dataDir, withIntermediateDirectories: true)
                FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
                try Data((key.plaintext + "\n").utf8).write(to: URL(fileURLWithPath: path))
                print("platform admin key (shown once; also written to \(path), mode 0600):")
                print(key.plaintext)
            }
        }
    }
}
