import ArgumentParser
import Foundation
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

struct Server: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register, list and drain the PostgreSQL servers that hold org databases.",
        subcommands: [Add.self, List.self, Drain.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a server (the admin password is read from TESSERA_SERVER_ADMIN_PASSWORD and sealed).",
            discussion: """
                The server needs what provisioning/postgres makes there: an admin login with CREATEDB and without \
                CREATEROLE or SUPERUSER (nor membership of a role that has them), tessera_tenant (NOLOGIN) that it \
                may grant, and the functions tessera_roles.ensure_org_role and drop_org_role in the postgres \
                database (SECURITY DEFINER, owned by the NOLOGIN role tessera_role_keeper), which alone make and \
                drop org roles. A server short of that is refused before anything is recorded. Its results \
                template is prepared at once.
                """)
        @OptionGroup var options: GlobalOptions
        @Option(help: "A short name (a-z, 0-9, _ and -).") var name: String
        @Option(help: "Host.") var host: String = "127.0.0.1"
        @Option(help: "Port.") var port: Int
        @Option(help: "Admin role on that server.") var adminUser: String = "tessera_admin"
        @Option(help: "Most org databases to place there.") var maxDatabases: Int = 1000

        func run() async throws {
            let password = ProcessInfo.processInfo.environment["TESSERA_SERVER_ADMIN_PASSWORD"]
            try await withTools(options) { tools in
                let id = try await tools.settings.database.withConnection(as: .admin, logger: tools.logger) {
                    try await ServerAdministration(box: tools.box, logger: tools.logger).register(
                        name: name, host: host, port: port, adminUser: adminUser, adminPassword: password,
                        maxDatabases: maxDatabases, tls: tools.settings.database.tls, by: tools.actor, on: $0)
                }
                let migrations = TenantMigrations(settings: tools.settings, box: tools.box, logger: tools.logger)
                let server = try await tools.settings.database.withConnection(as: .admin, logger: tools.logger) {
                    try await ServerStore(box: tools.box, logger: tools.logger).connection(
                        server: id, tls: tools.settings.database.tls, on: $0)
                }
                guard let server else { return }
                let applied = try await ResultsTemplate(
                    name: tools.settings.tenants.templateDatabase, migrator: try migrations.resultsMigrator(),
                    logger: tools.logger
                ).prepare(server: server)
                print(
                    "server \(name) registered (\(host):\(port)); template: "
                        + (applied.isEmpty ? "up to date" : "applied \(applied.count) migrations"))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List servers with their org counts.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await withTools(options) { tools in
                let servers = try await tools.settings.database.withConnection(as: .admin, logger: tools.logger) {
                    try await ServerStore(box: tools.box, logger: tools.logger).list(on: $0)
                }
                for s in servers {
                    print("\(s.name)  \(s.host):\(s.port)  \(s.status)  \(s.orgs)/\(s.maxDatabases) orgs")
                }
                if servers.isEmpty { print("no servers (tessera migrate registers the local one)") }
            }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Place no new orgs on a server (existing ones stay).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The server's name.") var name: String

        func run() async throws {
            try await withTools(options) { tools in
                let found = try await tools.settings.database.withConnection(as: .admin, logger: tools.logger) {
                    try await ServerAdministration(box: tools.box, logger: tools.logger).drain(
                        name: name, by: tools.actor, on: $0)
                }
                guard found else { throw ValidationError("no server named \(name)") }
                print("server \(name) is draining: no new orgs go there")
            }
        }
    }
}
