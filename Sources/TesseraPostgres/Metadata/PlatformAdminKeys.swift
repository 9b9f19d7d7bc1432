import Foundation
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

    /// Creates the first platform admin key unless a live one exists, with its audit record (by `actor`) in the
    /// same transaction; safe to run concurrently.
    public func bootstrap(by actor: AuditActor, on connection: PostgresConnection) async throws -> BootstrapResult {
        try await connection.withTransaction(logger: logger) { tx in
            try await tx.sql("SELECT pg_advisory_xact_lock(\(AdvisoryLock.platformAdminBootstrap))", logger: logger)
            let existing = try await tx.sql(
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
            let id = try await tx.sql(
                """
                INSERT INTO api_keys (platform_admin, prefix, key_hash, name)
                VALUES (true, \(key.prefix), \(ByteBuffer(bytes: key.digest)), 'platform admin (bootstrap)')
                RETURNING id
                """, logger: logger
            ).collect()[0].decode(UUID.self)
            try await AuditStore(logger: logger).append(
                actor.event(
                    org: nil, action: .platformAdminBootstrap, entityType: "api_key",
                    entityID: id.uuidString.lowercased(), metadata: ["prefix": key.displayPrefix]),
                on: tx)
            return .created(key)
        }
    }
}
