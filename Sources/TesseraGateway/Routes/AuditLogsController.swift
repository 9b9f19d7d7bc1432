import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/orgs/{org}/audit-logs`: what auditors read, export and verify; `/v1/audit-logs` across orgs.
struct AuditLogsController: Controller {
    let client: PostgresClient
    /// Checks the signatures of audit anchors left by retention.
    let box: SecretBox
    let baseLogger: Logger

    func listAuditLogs(_ input: Operations.listAuditLogs.Input) async throws -> Operations.listAuditLogs.Output {
        let q = input.query
        let filter = AuditFilter(
            scope: .org(try Tenant.required().orgID), actorID: try Self.actor(q.actor), action: q.action,
            entityType: q.entity_type,
            entityID: q.entity_id, outcome: q.outcome?.rawValue, since: q.since, until: q.until)
        return .ok(.init(body: .json(try await auditPage(filter, limit: q.limit, cursor: q.cursor))))
    }

    func listAllAuditLogs(_ input: Operations.listAllAuditLogs.Input) async throws -> Operations.listAllAuditLogs.Output
    {
        let q = input.query
        let scope: AuditFilter.Scope =
            switch q.org {
            case nil: .all
            case "platform": .platform
            case let raw?: .org(try UUID(uuidString: raw).orBadRequest("org is an org id or \"platform\""))
            }
        let filter = AuditFilter(
            scope: scope, actorID: try Self.actor(q.actor), action: q.action, entityType: q.entity_type,
            entityID: q.entity_id,
            outcome: q.outcome?.rawValue, since: q.since, until: q.until)
        return .ok(.init(body: .json(try await auditPage(filter, limit: q.limit, cursor: q.cursor))))
    }

    func verifyAuditLogs(_ input: Operations.verifyAuditLogs.Input) async throws -> Operations.verifyAuditLogs.Output {
        let org = try Tenant.required().orgID
        let verdict = try await client.withConnection {
            try await AuditStore(logger: logger).verify(org: org, box: box, on: $0)
        }
        switch verdict {
        case .intact(let count):
            return .ok(.init(body: .json(.init(org_id: Self.id(org), intact: true, verified: count))))
        case .broken(let seq, let reason):
            return .ok(
                .init(
                    body: .json(
                        .init(
                            org_id: Self.id(org), intact: false, verified: Int(seq - 1), broken_seq: seq, reason: reason
                        ))))
        }
    }

    func exportAuditLogs(_ input: Operations.exportAuditLogs.Input) async throws -> Operations.exportAuditLogs.Output {
        let q = input.query
        let filter = AuditFilter(
            scope: .org(try Tenant.required().orgID), actorID: try Self.actor(q.actor), action: q.action,
            entityType: q.entity_type,
            entityID: q.entity_id, outcome: q.outcome?.rawValue, since: q.since, until: q.until)
        let csv = q.format == .csv
        let lines = AuditExport.lines(client: client, filter: filter, csv: csv, logger: logger)
        let body = HTTPBody(lines, length: .unknown, iterationBehavior: .single)
        return .ok(.init(body: csv ? .csv(body) : .application_x_hyphen_ndjson(body)))
    }

    static func actor(_ raw: String?) throws -> UUID? {
        try raw.map { try UUID(uuidString: $0).orBadRequest("actor is the id of a user or a key") }
    }

    func auditPage(_ filter: AuditFilter, limit: Int?, cursor: String?) async throws -> Components.Schemas.AuditLogList
    {
        let limit = try Self.pageLimit(limit)
        let after = try cursor.map { try Int64($0).orBadRequest("cursor is not one this server gave") }
        let records = try await client.withConnection {
            try await AuditStore(logger: logger).list(filter, after: after, limit: limit + 1, on: $0)
        }
        let (page, next) = Self.page(records, limit: limit) { String(AuditStore.cursor(of: $0, in: filter.scope)) }
        return .init(items: page.map(Self.schema), next_cursor: next)
    }

    static func schema(_ r: AuditRecord) -> Components.Schemas.AuditRecord {
        .init(
            seq: r.seq, org_id: r.org.map(id), event_id: id(r.eventID), occurred_at: r.occurredAt,
            actor_kind: .init(rawValue: r.actorKind) ?? .system, actor_id: r.actorID, actor_display: r.actorDisplay,
            action: r.action,
            entity_type: r.entityType, entity_id: r.entityID, outcome: .init(rawValue: r.outcome) ?? .failed,
            request_id: r.requestID,
            client_ip: r.clientIP, user_agent: r.userAgent, metadata: .init(additionalProperties: r.metadata),
            hash: r.hash.hexString, prev_hash: r.prevHash.hexString)
    }
}

/// The records of a filter as NDJSON or CSV lines, a page of 1,000 at a time as the client reads.
enum AuditExport {
    static let header = Array(
        "seq,occurred_at,actor_kind,actor_id,actor_display,action,entity_type,entity_id,outcome,request_id,client_ip,user_agent,metadata,hash\n"
            .utf8)

    static func lines(client: PostgresClient, filter: AuditFilter, csv: Bool, logger: Logger) -> PagedExport<Int64> {
        guard csv else {
            return PagedExport(
                fetch: { after, limit in
                    try await client.withConnection {
                        try await ndjsonPage(filter, after: after, limit: limit, on: $0, logger: logger)
                    }
                }, header: nil)
        }
        return PagedExport(
            records: { after, limit in
                try await client.withConnection {
                    try await AuditStore(logger: logger).list(filter, after: after, limit: limit, on: $0)
                }
            },
            cursor: { AuditStore.cursor(of: $0, in: filter.scope) }, header: header, line: csvLine)
    }

    /// A page of NDJSON lines written straight from the database's columns, byte for byte what
    /// `ExportLines.ndjson(AuditLogsController.schema(record))` writes (a test compares them) at a fraction of
    /// the cost: 22 µs a record went to decoding, re-parsing the metadata and a `JSONEncoder`.
    static func ndjsonPage(
        _ filter: AuditFilter, after: Int64?, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> PagedExport<Int64>.Page {
        var page = PagedExport<Int64>.Page()
        page.lines.reserveCapacity(limit * 512)
        let cursor = AuditStore.cursorColumn(in: filter.scope)
        try await AuditStore(logger: logger).scan(filter, after: after, limit: limit, on: connection) { row in
            try ndjsonLine(row, into: &page.lines)
            page.count += 1
            page.last = try row[cursor].decode(Int64.self)
        }
        return page
    }

    static func ndjsonLine(_ row: PostgresRandomAccessRow, into out: inout [UInt8]) throws {
        func raw(_ text: StaticString) {
            out.append(contentsOf: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        func bytes(_ column: AuditStore.Column) throws -> ByteBuffer {
            guard let bytes = row[column].bytes else { throw TesseraError.internalError }  // NOT NULL columns
            return bytes
        }
        /// A text field; omitted when NULL, as the encoder omits a nil optional.
        func text(_ key: StaticString, _ column: AuditStore.Column) {
            guard let bytes = row[column].bytes else { return }
            raw(key)
            bytes.withUnsafeReadableBytes { JSONBytes.string($0, into: &out) }
        }
        /// One of `known`, or `otherwise` (as the generated enum's decoding fallback in `schema` does).
        func choice(_ key: StaticString, _ column: AuditStore.Column, known: (String) -> Bool, otherwise: String) throws
        {
            raw(key)
            var value = String(buffer: try bytes(column))
            if !known(value) { value = otherwise }
            value.withUTF8 { JSONBytes.string(UnsafeRawBufferPointer($0), into: &out) }
        }
        text(#"{"action":"#, .action)
        text(#","actor_display":"#, .actorDisplay)
        text(#","actor_id":"#, .actorID)
        try choice(
            #","actor_kind":"#, .actorKind,
            known: { Components.Schemas.AuditRecord.actor_kindPayload(rawValue: $0) != nil }, otherwise: "system")
        text(#","client_ip":"#, .clientIP)
        text(#","entity_id":"#, .entityID)
        text(#","entity_type":"#, .entityType)
        raw(#","event_id":"#)
        try bytes(.eventID).withUnsafeReadableBytes { JSONBytes.uuid($0, into: &out) }
        raw(#","hash":"#)
        try bytes(.hash).withUnsafeReadableBytes { JSONBytes.hex($0, into: &out) }
        raw(#","metadata":"#)
        let metadata = try bytes(.metadata)
        let written = metadata.withUnsafeReadableBytes { sortedMetadata($0, into: &out) }
        if !written {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            out += try encoder.encode(AuditStore.metadata(String(buffer: metadata)))
        }
        raw(#","occurred_at":""#)
        let date = try row[.occurredAt].decode(Date.self)
        if let text = InternetDate.string(seconds: Int(date.timeIntervalSince1970.rounded(.down))) {
            out += text.utf8
        } else {
            out += ISO8601DateFormatter().string(from: date).utf8
        }
        raw(#"""#)
        if let org = row[.org].bytes {
            raw(#","org_id":"#)
            org.withUnsafeReadableBytes { JSONBytes.uuid($0, into: &out) }
        }
        try choice(
            #","outcome":"#, .outcome, known: { Components.Schemas.AuditRecord.outcomePayload(rawValue: $0) != nil },
            otherwise: "failed")
        raw(#","prev_hash":"#)
        try bytes(.prevHash).withUnsafeReadableBytes { JSONBytes.hex($0, into: &out) }
        text(#","request_id":"#, .requestID)
        raw(#","seq":"#)
        JSONBytes.integer(try row[.seq].decode(Int64.self), into: &out)
        text(#","user_agent":"#, .userAgent)
        raw("}\n")
    }

    /// Metadata as PostgreSQL writes it (`{"bb": "x", "a": "y"}`, keys by length) rewritten with its keys in byte
    /// order, when `AuditStore.plainPairs` reads it and every key is printable ASCII (where the encoder's order is
    /// byte order); false, with nothing written, for anything else.
    static func sortedMetadata(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        guard var pairs = AuditStore.plainPairs(text),
            pairs.allSatisfy({ text[$0.key].allSatisfy { (0x20..<0x7F).contains($0) } })
        else { return false }
        pairs.sort { text[$0.key].lexicographicallyPrecedes(text[$1.key]) }
        out.append(UInt8(ascii: "{"))
        for (number, pair) in pairs.enumerated() {
            if number > 0 { out.append(UInt8(ascii: ",")) }
            out.append(0x22)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[pair.key]))
            out.append(contentsOf: [0x22, UInt8(ascii: ":"), 0x22])
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[pair.value]))
            out.append(0x22)
        }
        out.append(UInt8(ascii: "}"))
        return true
    }

    static func csvLine(_ r: AuditRecord) -> [UInt8] {
        let metadata =
            (try? JSONSerialization.data(withJSONObject: r.metadata, options: [.sortedKeys])).map {
                String(decoding: $0, as: UTF8.self)
            }
            ?? "{}"
        return ExportLines.csv([
            String(r.seq), r.occurredAt.formatted(.iso8601), r.actorKind, r.actorID, r.actorDisplay, r.action,
            r.entityType,
            r.entityID, r.outcome, r.requestID, r.clientIP, r.userAgent, metadata, r.hash.hexString,
        ])
    }
}
