import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TesseraCore

/// Deletes audit-outbox rows the relay has delivered from org databases, every `interval`, so an outbox does not grow
/// for ever. An org's own role may only add to its outbox (`results/0009`); the deletion runs on a short connection
/// as the org's server's admin login, up to the relay's position recorded in the metadata database (every row up to
/// it is in `audit_logs`), and that position is then remembered as trimmed. Gateways may trim the same org at once:
/// the deletion is idempotent and the mark only moves forward. Each org's trim waits at most `passDeadline`.
public struct OutboxTrimmer: Service {
    let metadata: PostgresClient
    let box: SecretBox
    let tls: Settings.DatabaseTLS
    let interval: Duration
    let passDeadline: Duration
    let logger: Logger
    /// Orgs trimmed in one pass at most (the next pass takes the rest).
    static let batch = 200

    public init(
        metadata: PostgresClient, box: SecretBox, tls: Settings.DatabaseTLS, interval: Duration,
        passDeadline: Duration = .seconds(60), logger: Logger
    ) {
        self.metadata = metadata
        self.box = box
        self.tls = tls
        self.interval = interval
        self.passDeadline = passDeadline
        self.logger = logger
    }

    public func run() async throws {
        await everyInterval(interval) { _ = await trim() }
    }

    /// One pass: every org with delivered rows left (up to `batch`); answers how many rows went.
    @discardableResult
    public func trim() async -> Int {
        let targets: [AuditOutbox.TrimTarget]
        let servers: [UUID: ServerConnection]
        do {
            // The orgs, and the servers they are on read once for all of them.
            (targets, servers) = try await withDeadline(passDeadline) { [metadata, box, tls, logger] in
                try await metadata.withConnection { connection in
                    let targets = try await AuditOutbox.trimTargets(limit: Self.batch, on: connection, logger: logger)
                    let servers = try await ServerStore(box: box, logger: logger).all(tls: tls, on: connection)
                    return (targets, Dictionary(uniqueKeysWithValues: servers.map { ($0.id, $0) }))
                }
            }
        } catch {
            logger.warning("outbox trim: cannot list orgs", metadata: ["error": "\(describeDatabaseError(error))"])
            return 0
        }
        var total = 0
        for target in targets where !Task.isCancelled {
            guard let server = servers[target.serverID] else { continue }
            do {
                total += try await withDeadline(passDeadline) { try await trim(target, on: server) }
            } catch {
                logger.warning(
                    "outbox trim failed for an org",
                    metadata: ["org": "\(target.org)", "error": "\(describeDatabaseError(error))"])
            }
        }
        return total
    }

    func trim(_ target: AuditOutbox.TrimTarget, on server: ServerConnection) async throws -> Int {
        let deleted = try await server.withAdminConnection(database: target.database, logger: logger) {
            try await AuditOutbox.trim(upTo: target.delivered, on: $0, logger: logger)
        }
        try await metadata.withConnection {
            try await AuditOutbox.trimmed(org: target.org, to: target.delivered, on: $0, logger: logger)
        }
        return deleted
    }
}
