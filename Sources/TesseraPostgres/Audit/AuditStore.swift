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

    /// Appends `event` in the caller's transaction; a second append of the same event id is a no-op and
    /// answers false (a second delivery).
    @discardableResult
    public func append(_ event: AuditEvent, on connection: PostgresConnection) async throws -> Bool {
        let metadata = String(
            decoding: try JSONSerialization.data(withJSONObject: event.metadata, options: [.sortedKeys]), as: UTF8.self)
        return try await !connection.query(
            """
            INSERT INTO audit_logs (event_id, org_id, actor_kind, actor_id, actor_display, action, entity_type, entity_id,
                                    outcome, request_id, client_ip, user_agent, metadata)
            VALUES (\(event.eventID), \(event.org), \(event.actorKind.rawValue)::actor_kind, \(event.actorID), \(event.actorDisplay),
                    \(event.action.rawValue), \(event.entityType), \(event.entityID), \(event.outcome.rawValue)::audit_outcome,
                    \(event.requestID), \(event.clientIP)::inet, \(event.userAgent), \(metadata)::jsonb)
            ON CONFLICT (event_id) DO NOTHING RETURNING 1
            """, logger: logger
        ).collect().isEmpty
    }

    /// Walks the org's chain (nil: the platform's) and reports the first broken record or the count verified.
    public func verify(org: UUID?, on connection: PostgresConnection) async throws -> AuditChain.Verdict {
        try await verify(org: org, startingAt: 1, previous: AuditChain.genesis, on: connection)
    }

    /// Walks from `start` (after a purge: the record after the anchor's, continuing from its hash).
    func verify(org: UUID?, startingAt start: Int64, previous: [UInt8], on connection: PostgresConnection) async throws
        -> AuditChain.Verdict
    {
        let rows = try await connection.query(
            """
            SELECT seq, seq::text, org_id::text, event_id::text,
                   to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor_kind::text, actor_id::text,
                   actor_display, action, entity_type, entity_id, outcome::text, request_id, host(client_ip), user_agent,
                   metadata::text, prev_hash, hash
            FROM audit_logs WHERE (\(org)::uuid IS NULL AND org_id IS NULL) OR org_id = \(org) ORDER BY 1
            """, logger: logger)
        var walker = AuditChain.Walker(startSeq: start, previous: previous)
        for try await row in rows {
            let columns = row.makeRandomAccess()
            let fields = try (1...15).map { try columns[$0].decode(String?.self) }
            walker.check(
                AuditRow(
                    seq: try columns[0].decode(Int64.self), fields: fields,
                    prevHash: Array(buffer: try columns[16].decode(ByteBuffer.self)),
                    hash: Array(buffer: try columns[17].decode(ByteBuffer.self))))
            if walker.verdict != nil { break }
        }
        return walker.result
    }
}

/// One stored audit record, as auditors read it.
public struct AuditRecord: Sendable {
    public let id: Int64
    public let seq: Int64
    public let org: UUID?
    public let eventID: UUID
    public let occurredAt: Date
    public let actorKind: String
    public let actorID: String?
    public let actorDisplay: String?
    public let action: String
    public let entityType: String?
    public let entityID: String?
    public let outcome: String
    public let requestID: String?
    public let clientIP: String?
    public let userAgent: String?
    public let metadata: [String: String]
    public let hash: [UInt8]
    public let prevHash: [UInt8]
}

/// What an auditor asks for.
public struct AuditFilter: Sendable {
    public enum Scope: Sendable {
        case org(UUID)
        case platform
        case all
    }

    public var scope: Scope
    public var actorID: UUID?
    /// An exact action, or a prefix when it ends in `*`.
    public var action: String?
    public var entityType: String?
    public var entityID: String?
    public var outcome: String?
    public var since: Date?
    public var until: Date?

    public init(
        scope: Scope, actorID: UUID? = nil, action: String? = nil, entityType: String? = nil, entityID: String? = nil,
        outcome: String? = nil, since: Date? = nil, until: Date? = nil
    ) {
        self.scope = scope
        self.actorID = actorID
        self.action = action
        self.entityType = entityType
        self.entityID = entityID
        self.outcome = outcome
        self.since = since
        self.until = until
    }
}

extension AuditStore {
    /// Records matching `filter` after `cursor`, in order: by `seq` within one chain (the order of commits, so
    /// a page boundary never skips a record appended meanwhile), by `id` across chains.
    public func list(_ filter: AuditFilter, after cursor: Int64?, limit: Int, on connection: PostgresConnection)
        async throws
        -> [AuditRecord]
    {
        let (org, platformOnly, all): (UUID?, Bool, Bool) =
            switch filter.scope {
            case .org(let id): (id, false, false)
            case .platform: (nil, true, false)
            case .all: (nil, false, true)
            }
        let prefix = filter.action.flatMap { $0.hasSuffix("*") ? String($0.dropLast()) : nil }
        let exact = filter.action.flatMap { $0.hasSuffix("*") ? nil : $0 }
        let rows = try await connection.query(
            """
            SELECT id, seq, org_id, event_id, occurred_at, actor_kind::text, actor_id::text, actor_display, action, entity_type,
                   entity_id, outcome::text, request_id, host(client_ip), user_agent, metadata::text, hash, prev_hash
            FROM audit_logs
            WHERE (\(all) OR (\(platformOnly) AND org_id IS NULL) OR org_id = \(org))
              AND (\(filter.actorID)::uuid IS NULL OR actor_id = \(filter.actorID))
              AND (\(exact)::text IS NULL OR action = \(exact))
              AND (\(prefix)::text IS NULL OR starts_with(action, \(prefix)))
              AND (\(filter.entityType)::text IS NULL OR entity_type = \(filter.entityType))
              AND (\(filter.entityID)::text IS NULL OR entity_id = \(filter.entityID))
              AND (\(filter.outcome)::text IS NULL OR outcome::text = \(filter.outcome))
              AND (\(filter.since)::timestamptz IS NULL OR occurred_at >= \(filter.since))
              AND (\(filter.until)::timestamptz IS NULL OR occurred_at < \(filter.until))
              AND (\(cursor)::bigint IS NULL OR (CASE WHEN \(all) THEN id ELSE seq END) > \(cursor))
            ORDER BY CASE WHEN \(all) THEN id ELSE seq END
            LIMIT \(limit)
            """, logger: logger)
        var result: [AuditRecord] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            let metadataText = try c[15].decode(String.self)
            let metadata =
                (try? JSONSerialization.jsonObject(with: Data(metadataText.utf8)) as? [String: Any])?
                .mapValues { "\($0)" } ?? [:]
            result.append(
                AuditRecord(
                    id: try c[0].decode(Int64.self), seq: try c[1].decode(Int64.self), org: try c[2].decode(UUID?.self),
                    eventID: try c[3].decode(UUID.self), occurredAt: try c[4].decode(Date.self),
                    actorKind: try c[5].decode(String.self),
                    actorID: try c[6].decode(String?.self), actorDisplay: try c[7].decode(String?.self),
                    action: try c[8].decode(String.self),
                    entityType: try c[9].decode(String?.self), entityID: try c[10].decode(String?.self),
                    outcome: try c[11].decode(String.self),
                    requestID: try c[12].decode(String?.self), clientIP: try c[13].decode(String?.self),
                    userAgent: try c[14].decode(String?.self),
                    metadata: metadata, hash: Array(buffer: try c[16].decode(ByteBuffer.self)),
                    prevHash: Array(buffer: try c[17].decode(ByteBuffer.self))))
        }
        return result
    }

    /// The position a page ends at, for the next page's cursor.
    public static func cursor(of record: AuditRecord, in scope: AuditFilter.Scope) -> Int64 {
        if case .all = scope { return record.id }
        return record.seq
    }
}
