import Logging
import PostgresNIO
import TesseraCore

/// The platform admin's API keys in the metadata database.
public struct PlatformAdminKeys: Sendable {
    public enum BootstrapResult: Sendable {
        /// A new key was made; its plaintext is here and nowhere else.
        case created(APIKey)
        /// A live platform admin key exists already (its display prefix).
        case exists(displayPrefix: String)
    }

    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Creates the first platform admin key unless a live one exists; safe to run concurrently.
    public func bootstrap(on connection: PostgresConnection) async throws -> BootstrapResult {
        try await connection.withTransaction(logger: logger) { tx in
            try await tx.query("SELECT pg_advisory_xact_lock(\(AdvisoryLock.platformAdminBootstrap))", logger: logger)
            let existing = try await tx.query(
                """
                SELECT prefix FROM api_keys
                WHERE platform_admin AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                ORDER BY created_at LIMIT 1
                """, logger: logger
            ).collect().first?.decode(String.self)
            if let existing {
                return .exists(displayPrefix: "\(APIKey.scheme)_\(existing)")
            }
            let key = APIKey.generate()
            try await tx.query(
                """
                INSERT INTO api_keys (platform_admin, prefix, key_hash, name)
                VALUES (true, \(key.prefix), \(ByteBuffer(bytes: key.digest)), 'platform admin (bootstrap)')
                """, logger: logger)
            return .created(key)
        }
    }
}
