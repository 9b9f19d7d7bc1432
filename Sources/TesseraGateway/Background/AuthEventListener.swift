import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TesseraCore
import TesseraPostgres

/// Listens on `tessera_auth` for the process's lifetime and evicts cache entries; reconnects on failure
/// (emptying the cache, since notifications may have been missed).
struct AuthEventListener: Service {
    static let channel = "tessera_auth"
    let client: PostgresClient
    let cache: CredentialCache
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            cache.removeAll()
                            for try await notification in notifications {
                                cache.apply(notification: notification.payload)
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    cache.removeAll()
                    logger.warning(
                        "auth listener lost its connection; retrying",
                        metadata: ["error": "\(describeDatabaseError(error))"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }
}
