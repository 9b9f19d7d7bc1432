import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TesseraPostgres

/// Collects the keys used by requests and stamps their `last_used_at` in one statement every few
/// seconds, off the request path. A stamp that fails or outlasts `passDeadline` is kept for the next pass.
final class LastUsedRecorder: Service, Sendable {
    let client: PostgresClient
    let interval: Duration
    let passDeadline: Duration
    let logger: Logger
    private let pending = Mutex<Set<UUID>>([])

    init(client: PostgresClient, interval: Duration, passDeadline: Duration = .seconds(60), logger: Logger) {
        self.client = client
        self.interval = interval
        self.passDeadline = passDeadline
        self.logger = logger
    }

    /// Keys used and not yet stamped (for tests).
    var waiting: Int { pending.withLock { $0.count } }

    func used(_ keyID: UUID) {
        _ = pending.withLock { $0.insert(keyID) }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while (try? await Task.sleep(for: self.interval)) != nil {
                await self.flush()
            }
        }
        // The last batch, in a task of its own: this one is cancelled by the shutdown, and a cancelled task
        // cannot lease a connection.
        await Task { await self.flush() }.value
    }

    func flush() async {
        let ids = pending.withLock { set -> [UUID] in
            defer { set.removeAll() }
            return Array(set)
        }
        guard !ids.isEmpty else { return }
        do {
            try await withDeadline(passDeadline) { [client, logger] in
                try await client.withConnection { connection in
                    try await APIKeyStore(logger: logger).touch(ids, at: Date(), on: connection)
                }
            }
        } catch {
            pending.withLock { $0.formUnion(ids) }
            logger.warning(
                "could not record key use; kept for the next pass",
                metadata: ["keys": "\(ids.count)", "error": "\(describeDatabaseError(error))"])
        }
    }
}
