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
        return try await !connection.sql(
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

    /// Queues `events` in the caller's transaction, in order, in one statement (their change's last before its
    /// COMMIT), and, with `chainIfFree`, chains there every chain of theirs that no other transaction is chaining at
    /// that moment; answers the chains left queued (nil: the platform's), for `chainPending` once the caller has
    /// committed. Durable with the change either way; the chain's lock is held from here to the COMMIT at most.
    @discardableResult
    public func queue(_ events: [AuditEvent], chainIfFree: Bool = true, on connection: PostgresConnection)
        async throws -> [UUID?]
    {
        let json = try JSONText.encode(events.map { OutboxEvent($0, job: nil) })
        let rows = try await connection.sql(
            "SELECT audit_queue(\(json)::jsonb, \(chainIfFree))", logger: logger
        ).collect()
        return try (rows.first?.decode([String].self) ?? []).map { chain -> UUID? in
            if chain == "platform" { return nil }
            guard let org = UUID(uuidString: chain) else { throw TesseraError.internalError }
            return org
        }
    }

    /// Chains every queued record of the org's chain (nil: the platform's) in one transaction of its own (run it
    /// outside any); answers how many.
    @discardableResult
    public func chainPending(org: UUID?, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.sql("SELECT audit_chain_pending(\(org))", logger: logger).collect()
        return try rows.first?.decode(Int.self) ?? 0
    }

    /// Records queued by changes and not yet chained (for metrics; a few for a moment when changes to one chain meet).
    public func queuedCount(on connection: PostgresConnection) async throws -> Int {
        try await connection.sql("SELECT count(*)::int FROM audit_pending", logger: logger).collect()[0]
            .decode(Int.self)
    }

    /// The chains with records queued longer than `age` (left by a process that stopped between a change's
    /// commit and its chaining, or by a chaining that failed).
    public func chainsWaiting(longerThan age: Duration, on connection: PostgresConnection) async throws -> [UUID?] {
        let seconds = age.inSeconds
        return try await connection.sql(
            """
            SELECT DISTINCT org_id FROM audit_pending
            WHERE queued_at < clock_timestamp() - make_interval(secs => \(seconds))
            """, logger: logger
        ).collect().map { try $0.decode(UUID?.self) }
    }

    /// Walks the org's chain (nil: the platform's) and reports the first broken record or the count verified.
    public func verify(org: UUID?, on connection: PostgresConnection) async throws -> AuditChain.Verdict {
        try await verify(org: org, startingAt: 1, previous: AuditChain.genesis, on: connection)
    }

    /// Walks from `start` (after a purge: the record after the anchor's, continuing from its hash).
    func verify(org: UUID?, startingAt start: Int64, previous: [UInt8], on connection: PostgresConnection) async throws
        -> AuditChain.Verdict
    {
        let rows = try await connection.sql(
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
    /// The columns `scan` hands over, in order.
    public enum Column: Int {
        case id, seq, org, eventID, occurredAt, actorKind, actorID, actorDisplay, action, entityType, entityID, outcome
        case requestID, clientIP, userAgent, metadata, hash, prevHash
    }

    /// Records matching `filter` after `cursor`, in order: by `seq` within one chain (the order of commits, so
    /// a page boundary never skips a record appended meanwhile), by `id` across chains.
    public func list(_ filter: AuditFilter, after cursor: Int64?, limit: Int, on connection: PostgresConnection)
        async throws
        -> [AuditRecord]
    {
        var result: [AuditRecord] = []
        try await scan(filter, after: cursor, limit: limit, on: connection) { c in
            result.append(
                AuditRecord(
                    id: try c[.id].decode(Int64.self), seq: try c[.seq].decode(Int64.self),
                    org: try c[.org].decode(UUID?.self),
                    eventID: try c[.eventID].decode(UUID.self), occurredAt: try c[.occurredAt].decode(Date.self),
                    actorKind: try c[.actorKind].decode(String.self),
                    actorID: try c[.actorID].decode(String?.self),
                    actorDisplay: try c[.actorDisplay].decode(String?.self),
                    action: try c[.action].decode(String.self),
                    entityType: try c[.entityType].decode(String?.self),
                    entityID: try c[.entityID].decode(String?.self),
                    outcome: try c[.outcome].decode(String.self),
                    requestID: try c[.requestID].decode(String?.self), clientIP: try c[.clientIP].decode(String?.self),
                    userAgent: try c[.userAgent].decode(String?.self),
                    metadata: Self.metadata(try c[.metadata].decode(String.self)),
                    hash: Array(buffer: try c[.hash].decode(ByteBuffer.self)),
                    prevHash: Array(buffer: try c[.prevHash].decode(ByteBuffer.self))))
        }
        return result
    }

    /// The records `list` reads, handed to `each` as the database sent them (numbered as `Column` says; text as
    /// text, `metadata` as its JSON text): for writers that copy bytes out instead of decoding (the export).
    public func scan(
        _ filter: AuditFilter, after cursor: Int64?, limit: Int, on connection: PostgresConnection,
        _ each: (PostgresRandomAccessRow) throws -> Void
    ) async throws {
        let (org, platformOnly, all): (UUID?, Bool, Bool) =
            switch filter.scope {
            case .org(let id): (id, false, false)
            case .platform: (nil, true, false)
            case .all: (nil, false, true)
            }
        let prefix = filter.action.flatMap { $0.hasSuffix("*") ? String($0.dropLast()) : nil }
        let exact = filter.action.flatMap { $0.hasSuffix("*") ? nil : $0 }
        let rows = try await connection.sql(
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
        for try await row in rows { try each(row.makeRandomAccess()) }
    }

    /// A record's metadata from its stored JSON text: every value as text (what was appended is text already).
    public static func metadata(_ text: String) -> [String: String] {
        var text = text
        let plain = text.withUTF8 { bytes -> [String: String]? in
            let bytes = UnsafeRawBufferPointer(bytes)
            guard let pairs = plainPairs(bytes) else { return nil }
            var metadata: [String: String] = [:]
            for pair in pairs {
                metadata[String(decoding: bytes[pair.key], as: UTF8.self)] = String(
                    decoding: bytes[pair.value], as: UTF8.self)
            }
            return metadata
        }
        if let plain { return plain }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?.mapValues { "\($0)" }
            ?? [:]
    }

    /// Where the keys and values are in metadata as PostgreSQL writes a flat `jsonb` object of strings
    /// (`{"bb": "x", "a": "y"}`), when nothing in it is escaped: each range's bytes are the string itself. Nil for
    /// anything else (escapes, other values), which a JSON parser reads. Foundation's took several µs a record.
    public static func plainPairs(_ text: UnsafeRawBufferPointer) -> [(key: Range<Int>, value: Range<Int>)]? {
        guard !text.contains(0x5C) else { return nil }
        var index = 0
        func take(_ byte: UInt8) -> Bool {
            guard index < text.count, text[index] == byte else { return false }
            index += 1
            return true
        }
        func quoted() -> Range<Int>? {
            guard take(0x22) else { return nil }
            let start = index
            while index < text.count, text[index] != 0x22 { index += 1 }
            guard index < text.count else { return nil }
            index += 1
            return start..<index - 1
        }
        guard take(UInt8(ascii: "{")) else { return nil }
        var pairs: [(key: Range<Int>, value: Range<Int>)] = []
        if !take(UInt8(ascii: "}")) {
            while true {
                guard let key = quoted(), take(UInt8(ascii: ":")), take(0x20), let value = quoted() else { return nil }
                pairs.append((key, value))
                if take(UInt8(ascii: ",")) {
                    guard take(0x20) else { return nil }
                    continue
                }
                guard take(UInt8(ascii: "}")) else { return nil }
                break
            }
        }
        return index == text.count ? pairs : nil
    }

    /// The position a page ends at, for the next page's cursor.
    public static func cursor(of record: AuditRecord, in scope: AuditFilter.Scope) -> Int64 {
        if case .all = scope { return record.id }
        return record.seq
    }

    /// The column of a `scan` row that holds its cursor (an `Int64`).
    public static func cursorColumn(in scope: AuditFilter.Scope) -> Column {
        if case .all = scope { return .id }
        return .seq
    }
}

extension PostgresRandomAccessRow {
    /// The cell of an `AuditStore.scan` row.
    public subscript(_ column: AuditStore.Column) -> PostgresCell { self[column.rawValue] }
}
