import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// The audit log in the metadata database: appends (the database numbers and chains them) and the walk
/// that verifies a chain.
public struct AuditStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Appends `event` in the caller's transaction; a second append of the same event id is a no-op.
    public func append(_ event: AuditEvent, on connection: PostgresConnection) async throws {
        let metadata = String(decoding: try JSONSerialization.data(withJSONObject: event.metadata, options: [.sortedKeys]), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO audit_logs (event_id, org_id, actor_kind, actor_id, actor_display, action, entity_type, entity_id,
                                    outcome, request_id, client_ip, user_agent, metadata)
            VALUES (\(event.eventID), \(event.org), \(event.actorKind.rawValue)::actor_kind, \(event.actorID), \(event.actorDisplay),
                    \(event.action.rawValue), \(event.entityType), \(event.entityID), \(event.outcome.rawValue)::audit_outcome,
                    \(event.requestID), \(event.clientIP)::inet, \(event.userAgent), \(metadata)::jsonb)
            ON CONFLICT (event_id) DO NOTHING
            """, logger: logger)
    }

    /// Walks the org's chain (nil: the platform's) and reports the first broken record or the count verified.
    public func verify(org: UUID?, on connection: PostgresConnection) async throws -> AuditChain.Verdict {
        let rows = try await connection.query(
            """
            SELECT seq, seq::text, org_id::text, event_id::text,
                   to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor_kind::text, actor_id::text,
                   actor_display, action, entity_type, entity_id, outcome::text, request_id, host(client_ip), user_agent,
                   metadata::text, prev_hash, hash
            FROM audit_logs WHERE org_id IS NOT DISTINCT FROM \(org) ORDER BY 1
            """, logger: logger)
        var walker = AuditChain.Walker()
        for try await row in rows {
            let columns = row.makeRandomAccess()
            let fields = try (1...15).map { try columns[$0].decode(String?.self) }
            walker.check(AuditRow(
                seq: try columns[0].decode(Int64.self), fields: fields,
                prevHash: Array(buffer: try columns[16].decode(ByteBuffer.self)),
                hash: Array(buffer: try columns[17].decode(ByteBuffer.self))))
            if walker.verdict != nil { break }
        }
        return walker.result
    }
}
