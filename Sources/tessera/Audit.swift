import ArgumentParser
import Foundation
import TesseraCore
import TesseraPostgres

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Audit log tools.",
        subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk an org's audit hash chain (or the platform's) and report the first broken record or the count verified.",
            discussion: "Exits 1 when the chain is broken.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The org's id.") var org: String?
        @Flag(help: "Verify the platform's own chain (authentication failures, logins, cross-org denials).") var platform = false

        func validate() throws {
            guard (org != nil) != platform else { throw ValidationError("give --org ID or --platform") }
        }

        func run() async throws {
            let settings = try options.loadSettings().settings
            let logger = makeLogger(settings)
            let id = try org.map { raw -> UUID in
                guard let id = UUID(uuidString: raw) else { throw ValidationError("'\(raw)' is not an org id") }
                return id
            }
            var broken = false
            try await reportingErrors {
                let verdict = try await settings.database.withConnection(as: .gateway, logger: logger) {
                    try await AuditStore(logger: logger).verify(org: id, on: $0)
                }
                let chain = id.map { "org \($0.uuidString.lowercased())" } ?? "platform"
                switch verdict {
                case .intact(let count):
                    print("\(chain): \(count) records verified, chain intact")
                case .broken(let seq, let reason):
                    print("\(chain): BROKEN at record \(seq): \(reason) (\(seq - 1) records verified before it)")
                    broken = true
                }
            }
            if broken { throw ExitCode.failure }
        }
    }
}
