import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Database server changes — register (or update) a server, drain one — each committed with its audit
/// record in the platform's chain, naming the actor it is given. The `tessera server` commands use it.
public struct ServerAdministration: Sendable {
    let box: SecretBox
    let logger: Logger

    public init(box: SecretBox, logger: Logger) {
        self.box = box
        self.logger = logger
    }

    /// Registers the server or updates it; its admin password is sealed under the master key and never recorded.
    /// Refused (422, nothing written) unless the server is fit to hold org databases: its admin login, connected
    /// to `postgres`, has CREATEDB and nothing more powerful, and the role functions are there (`OrgRoles`).
    public func register(
        name: String, host: String, port: Int, adminUser: String, adminPassword: String?, maxDatabases: Int,
        tls: Settings.DatabaseTLS, by actor: AuditActor, on connection: PostgresConnection
    ) async throws -> UUID {
        guard name.range(of: "^[a-z0-9_-]{1,63}$", options: .regularExpression) != nil else {
            throw TesseraError.unprocessable("server name '\(name)' must be 1–63 of a-z, 0-9, _ and -")
        }
        guard (1...65535).contains(port) else { throw TesseraError.unprocessable("port must be 1–65535") }
        let (box, logger) = (box, logger)
        let candidate = ServerConnection(
            id: UUID(), name: name, host: host, port: port, adminUser: adminUser, adminPassword: adminPassword,
            tls: tls)
        let problems = try await candidate.withAdminConnection(database: "postgres", logger: logger) {
            try await OrgRoles.unfitness(on: $0, logger: logger)
        }
        guard problems.isEmpty else {
            throw TesseraError.unprocessable(
                "server '\(name)' may not hold org databases: " + problems.joined(separator: "; "))
        }
        return try await connection.withTransaction(logger: logger) { tx in
            let id = try await ServerStore(box: box, logger: logger).upsert(
                name: name, host: host, port: port, adminUser: adminUser, adminPassword: adminPassword,
                maxDatabases: maxDatabases, on: tx)
            try await AuditStore(logger: logger).append(
                actor.event(
                    org: nil, action: .databaseServerRegister, entityType: "database_server",
                    entityID: id.uuidString.lowercased(),
                    metadata: ["name": name, "host": host, "port": String(port), "admin_user": adminUser]),
                on: tx)
            return id
        }
    }

    /// Places no new orgs on the server; false when there is no server of that name.
    public func drain(name: String, by actor: AuditActor, on connection: PostgresConnection) async throws -> Bool {
        let (box, logger) = (box, logger)
        return try await connection.withTransaction(logger: logger) { tx in
            guard try await ServerStore(box: box, logger: logger).setStatus(name: name, status: "draining", on: tx)
            else { return false }
            try await AuditStore(logger: logger).append(
                actor.event(
                    org: nil, action: .databaseServerDrain, entityType: "database_server", entityID: name,
                    metadata: ["name": name]),
                on: tx)
            return true
        }
    }
}
