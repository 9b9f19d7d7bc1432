import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Decides whether the gateway may take traffic: the metadata database answers and its migrations are current.
struct Readiness: Sendable {
    struct Report: Sendable {
        let applied: Int
        let pending: Int
    }

    let client: PostgresClient
    let migrator: Migrator
    let timeout: Duration

    /// The report when ready; throws `unavailable` with the reason otherwise.
    func check(logger: Logger) async throws -> Report {
        let status: MigrationStatus
        do {
            status = try await withDeadline(timeout) { [client, migrator] in
                try await client.withConnection { connection in
                    try await migrator.status(on: connection)
                }
            }
        } catch is DeadlineExceeded {
            throw TesseraError.unavailable("metadata database did not answer within \(timeout)")
        } catch {
            logger.warning(
                "readiness: metadata database unreachable", metadata: ["error": "\(String(reflecting: error))"])
            throw TesseraError.unavailable("metadata database unreachable")
        }
        if let problem = status.problem {
            throw TesseraError.unavailable(problem.description)
        }
        guard status.pending.isEmpty else {
            throw TesseraError.unavailable(
                "\(status.pending.count) metadata migration(s) pending (first: \(status.pending[0])); run `tessera migrate`"
            )
        }
        return Report(applied: status.applied.count, pending: 0)
    }
}
