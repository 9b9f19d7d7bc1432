import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

struct Org: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, show and retry organizations (each with its own results database).",
        subcommands: [Create.self, List.self, Show.self, Retry.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an org and provision its database, showing each step as it finishes.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "Display name.") var name: String
        @Option(help: "URL-friendly name (default derived from the name).") var slug: String?
        @Option(
            help: "Email of the owner (created if new; mailed an invitation, or a notice when they have a password).")
        var ownerEmail: String?
        @Option(help: "Database server name (default the least loaded).") var server: String?
        @Flag(help: "Return once the org is recorded; a running gateway provisions it.") var noWait = false

        func run() async throws {
            try await withTools(options) { tools in
                let (org, invited) = try await tools.orgs.create(
                    name: name, slug: slug, ownerEmail: ownerEmail, server: server, by: tools.actor)
                print("org \(org.id.uuidString.lowercased()) (\(org.slug)) created")
                if let ownerEmail {
                    print("\(invited ? "an invitation" : "a notice") for \(ownerEmail) is queued for mail")
                }
                if noWait { return }
                try await tools.provision(org.id)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List orgs with status, server and schema version.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await withTools(options) { tools in
                let orgs = try await tools.settings.database.withConnection(as: .admin, logger: tools.logger) {
                    try await OrgStore(logger: tools.logger).list(status: nil, after: nil, limit: 10_000, on: $0)
                }
                for org in orgs {
                    print(
                        "\(org.id.uuidString.lowercased())  \(org.status.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(org.slug)  server=\(org.server ?? "-") schema=\(org.schemaVersion ?? "-")"
                    )
                }
                if orgs.isEmpty { print("no orgs") }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an org and its provisioning steps.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String

        func run() async throws {
            let id = try parseOrgID(org)
            try await withTools(options) { tools in try await tools.show(id) }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a failed provisioning from its failed step.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String

        func run() async throws {
            let id = try parseOrgID(org)
            try await withTools(options) { tools in
                try await tools.orgs.retry(try await tools.orgs.existing(id), by: tools.actor)
                try await tools.provision(id)
            }
        }
    }
}

extension Org {
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Suspend an org (its keys and sessions stop at once; data kept), or purge it.",
            discussion:
                "With --purge and --confirm equal to the org's name, its database, role and storage are dropped.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String
        @Flag(help: "Drop the org's database, role and storage after suspending it.") var purge = false
        @Option(help: "The org's name, exactly (required with --purge).") var confirm: String?

        func run() async throws {
            let id = try parseOrgID(org)
            try await withTools(options) { tools in
                let record = try await tools.orgs.existing(id)
                let done = try await tools.orgs.delete(record, purge: purge, confirm: confirm, by: tools.actor)
                if done.suspended { print("org \(record.slug) suspended") }
                guard done.purgeRequested else { return }
                try await Provisioner(
                    metadata: tools.client, box: tools.box, settings: tools.settings, logger: tools.logger
                ).purge(id)
                print("org \(record.slug) purged: database, role and storage dropped")
            }
        }
    }
}

/// What the org and server commands share: settings, the sealing box, a metadata pool.
struct Tools: Sendable {
    let settings: Settings
    let box: SecretBox
    let client: PostgresClient
    let logger: Logger

    /// Org administration as the API does it, audited as this command line and OS user.
    var orgs: OrgAdministration { OrgAdministration(metadata: client, box: box, mailer: mailer, logger: logger) }
    /// Mail the CLI's changes cause goes to the outbox; a running gateway delivers it.
    var mailer: AccountMailer { AccountMailer(box: box, publicURL: settings.mail.publicURL) }
    var actor: AuditActor { .commandLine(osUser: currentOSUser()) }

    /// Provisions the org here (unless a gateway holds it), printing each step as it finishes.
    func provision(_ org: UUID) async throws {
        let service = ProvisioningService(
            provisioner: Provisioner(metadata: client, box: box, settings: settings, logger: logger), metadata: client,
            logger: logger)
        let started = ContinuousClock.now
        let watcher = Task {
            var shown = Set<String>()
            while !Task.isCancelled {
                if let steps = try? await client.withConnection({
                    try await OrgStore(logger: logger).steps(org, on: $0)
                }) {
                    for step in steps where step.status == .done && !shown.contains(step.step.rawValue) {
                        shown.insert(step.step.rawValue)
                        print("  [\(shown.count)/\(steps.count)] \(step.step.rawValue): \(step.step.summary)")
                    }
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        let ran = try await service.provisionIfFree(org)
        try? await Task.sleep(for: .milliseconds(150))
        watcher.cancel()
        if !ran { print("another process is provisioning this org; follow it with `tessera org show`") }
        try await show(org)
        print("(\(ContinuousClock.now - started))")
    }

    func show(_ org: UUID) async throws {
        let (record, steps) = try await client.withConnection { connection in
            (
                try await OrgStore(logger: logger).get(org, on: connection),
                try await OrgStore(logger: logger).steps(org, on: connection)
            )
        }
        guard let record else { throw ValidationError("no such org") }
        print(
            "\(record.name) (\(record.slug)) \(record.id.uuidString.lowercased()): \(record.status.rawValue)"
                + (record.statusReason.map { " — \($0)" } ?? ""))
        print("  server: \(record.server ?? "-"), schema: \(record.schemaVersion ?? "-")")
        for step in steps {
            let took =
                both(step.startedAt, step.finishedAt).map {
                    String(format: " %.0f ms", $1.timeIntervalSince($0) * 1000)
                } ?? ""
            print(
                "  \(step.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(step.step.rawValue)\(took)\(step.error.map { " — \($0)" } ?? "")"
            )
        }
    }
}

/// Loads settings and the master key, runs a metadata pool (as the admin role) for `body`, then stops it.
func withTools(_ options: GlobalOptions, _ body: (Tools) async throws -> Void) async throws {
    let settings = try options.loadSettings().settings
    let logger = makeLogger(settings)
    let box = try await options.secretBox(settings)
    let client = PostgresClient(
        configuration: settings.database.clientConfiguration(as: .admin), backgroundLogger: logger)
    let runner = Task { await client.run() }
    defer { runner.cancel() }
    try await reportingErrors {
        try await body(Tools(settings: settings, box: box, client: client, logger: logger))
    }
}

/// The name of the OS user running the command (its uid when it has none).
func currentOSUser() -> String {
    let uid = getuid()
    guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
    return String(cString: name)
}
