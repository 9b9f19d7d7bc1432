import ArgumentParser
import Foundation
import TesseraCore
import TesseraPostgres

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Audit log tools.",
        subcommands: [Verify.self, Retention.self, Purge.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Walk an org's audit hash chain (or the platform's) and report the first broken record or the count verified.",
            discussion: "Exits 1 when the chain is broken.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The org's id.") var org: String?
        @Flag(help: "Verify the platform's own chain (authentication failures, logins, cross-org denials).")
        var platform = false

        func validate() throws {
            guard (org != nil) != platform else { throw ValidationError("give --org ID or --platform") }
        }

        func run() async throws {
            let settings = try options.loadSettings().settings
            let logger = makeLogger(settings)
            let id = try org.map(parseOrgID)
            let box = try await options.secretBox(settings)
            var broken = false
            try await reportingErrors {
                let verdict = try await settings.database.withConnection(as: .gateway, logger: logger) {
                    try await AuditStore(logger: logger).verify(org: id, box: box, on: $0)
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

extension Audit {
    struct Retention: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set how many days an org keeps its audit records (org settings).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The org's id.") var org: String
        @Option(help: "Days to keep (at least 1).") var days: Int

        func run() async throws {
            let id = try parseOrgID(org)
            guard days >= 1 else { throw ValidationError("--days must be at least 1") }
            try await withTools(options) { tools in
                try await tools.client.withConnection {
                    try await AuditRetention(box: tools.box, logger: tools.logger).setRetention(
                        org: id, days: days, by: tools.actor, on: $0)
                }
                print("org \(org) keeps audit records for \(days) days; `tessera audit purge --org \(org)` applies it")
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Remove an org's (or the platform's) audit records older than a retention, leaving a signed anchor (admin role).",
            discussion:
                "The chain is verified first; a broken chain is never purged. What remains verifies from the anchor on. "
                + "--platform purges the platform's chain (logins, authentication failures, orgs created); it needs --days."
        )
        @OptionGroup var options: GlobalOptions
        @Option(help: "The org's id.") var org: String?
        @Flag(help: "Purge the platform's chain instead of an org's.") var platform = false
        @Option(help: "Days to keep, instead of the org's setting.") var days: Int?

        func validate() throws {
            guard (org == nil) == platform else { throw ValidationError("give either --org or --platform") }
            if let days, days < 1 { throw ValidationError("--days must be at least 1") }
        }

        func run() async throws {
            let id = try org.map(parseOrgID)
            try await withTools(options) { tools in
                var setting: Int?
                if let id {
                    setting = try await tools.client.withConnection {
                        try await AuditRetention(box: tools.box, logger: tools.logger).retentionDays(org: id, on: $0)
                    }
                }
                guard let keep = days ?? setting else {
                    throw ValidationError(
                        id == nil
                            ? "the platform's chain needs --days"
                            : "the org has no retention set: pass --days or run `tessera audit retention`")
                }
                let cutoff = Date().addingTimeInterval(-Double(keep) * 86_400)
                let outcome = try await tools.settings.database.withConnection(as: .admin, logger: tools.logger) {
                    try await AuditRetention(box: tools.box, logger: tools.logger).purge(
                        org: id, olderThan: cutoff, on: $0)
                }
                switch outcome {
                case .purged(let through): print("purged records 1–\(through); a signed anchor continues the chain")
                case .nothingOlder: print("no record older than \(keep) days")
                case .refused(let reason): throw ValidationError(reason)
                }
            }
        }
    }
}
