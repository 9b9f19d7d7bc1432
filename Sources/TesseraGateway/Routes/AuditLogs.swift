import Foundation
import OpenAPIRuntime
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/orgs/{org}/audit-logs`: what auditors read, export and verify; `/v1/audit-logs` across orgs.
extension APIHandler {
    func listAuditLogs(_ input: Operations.listAuditLogs.Input) async throws -> Operations.listAuditLogs.Output {
        let q = input.query
        let filter = AuditFilter(
            scope: .org(try Tenant.required().orgID), actorID: try Self.actor(q.actor), action: q.action, entityType: q.entity_type,
            entityID: q.entity_id, outcome: q.outcome?.rawValue, since: q.since, until: q.until)
        return .ok(.init(body: .json(try await auditPage(filter, limit: q.limit, cursor: q.cursor))))
    }

    func listAllAuditLogs(_ input: Operations.listAllAuditLogs.Input) async throws -> Operations.listAllAuditLogs.Output {
        let q = input.query
        let scope: AuditFilter.Scope =
            switch q.org {
            case nil: .all
            case "platform": .platform
            case let raw?: .org(try UUID(uuidString: raw).orBadRequest("org is an org id or \"platform\""))
            }
        let filter = AuditFilter(
            scope: scope, actorID: try Self.actor(q.actor), action: q.action, entityType: q.entity_type, entityID: q.entity_id,
            outcome: q.outcome?.rawValue, since: q.since, until: q.until)
        return .ok(.init(body: .json(try await auditPage(filter, limit: q.limit, cursor: q.cursor))))
    }

    func verifyAuditLogs(_ input: Operations.verifyAuditLogs.Input) async throws -> Operations.verifyAuditLogs.Output {
        let org = try Tenant.required().orgID
        let verdict = try await client.withConnection { try await AuditStore(logger: logger).verify(org: org, box: box, on: $0) }
        switch verdict {
        case .intact(let count):
            return .ok(.init(body: .json(.init(org_id: Self.id(org), intact: true, verified: count))))
        case .broken(let seq, let reason):
            return .ok(.init(body: .json(.init(
                org_id: Self.id(org), intact: false, verified: Int(seq - 1), broken_seq: seq, reason: reason))))
        }
    }

    func exportAuditLogs(_ input: Operations.exportAuditLogs.Input) async throws -> Operations.exportAuditLogs.Output {
        let q = input.query
        let filter = AuditFilter(
            scope: .org(try Tenant.required().orgID), actorID: try Self.actor(q.actor), action: q.action, entityType: q.entity_type,
            entityID: q.entity_id, outcome: q.outcome?.rawValue, since: q.since, until: q.until)
        let csv = q.format == .csv
        let lines = AuditExport(client: client, filter: filter, csv: csv, logger: logger)
        let body = HTTPBody(lines, length: .unknown, iterationBehavior: .single)
        return .ok(.init(body: csv ? .csv(body) : .application_x_hyphen_ndjson(body)))
    }

    static func actor(_ raw: String?) throws -> UUID? {
        try raw.map { try UUID(uuidString: $0).orBadRequest("actor is the id of a user or a key") }
    }

    func auditPage(_ filter: AuditFilter, limit: Int?, cursor: String?) async throws -> Components.Schemas.AuditLogList {
        let limit = try Self.pageLimit(limit)
        let after = try cursor.map { try Int64($0).orBadRequest("cursor is not one this server gave") }
        let records = try await client.withConnection {
            try await AuditStore(logger: logger).list(filter, after: after, limit: limit + 1, on: $0)
        }
        let page = Array(records.prefix(limit))
        let next = records.count > limit ? page.last.map { String(AuditStore.cursor(of: $0, in: filter.scope)) } : nil
        return .init(items: page.map(Self.schema), next_cursor: next)
    }

    static func schema(_ r: AuditRecord) -> Components.Schemas.AuditRecord {
        .init(
            seq: r.seq, org_id: r.org.map(id), event_id: id(r.eventID), occurred_at: r.occurredAt,
            actor_kind: .init(rawValue: r.actorKind) ?? .system, actor_id: r.actorID, actor_display: r.actorDisplay, action: r.action,
            entity_type: r.entityType, entity_id: r.entityID, outcome: .init(rawValue: r.outcome) ?? .failed, request_id: r.requestID,
            client_ip: r.clientIP, user_agent: r.userAgent, metadata: .init(additionalProperties: r.metadata),
            hash: r.hash.hexString, prev_hash: r.prevHash.hexString)
    }
}

extension Optional {
    /// The value, or a 400 saying what was wrong.
    func orBadRequest(_ detail: String) throws -> Wrapped {
        guard let self else { throw TesseraError.badRequest(detail) }
        return self
    }
}

/// The records of a filter as NDJSON or CSV lines, fetched a page of 1,000 at a time as the client reads:
/// memory stays flat whatever the size, and no connection is held between pages.
struct AuditExport: AsyncSequence, Sendable {
    typealias Element = ArraySlice<UInt8>
    let client: PostgresClient
    let filter: AuditFilter
    let csv: Bool
    let logger: Logger

    static let header = Array("seq,occurred_at,actor_kind,actor_id,actor_display,action,entity_type,entity_id,outcome,request_id,client_ip,user_agent,metadata,hash\n".utf8)

    struct AsyncIterator: AsyncIteratorProtocol {
        let export: AuditExport
        var cursor: Int64?
        var started = false
        var done = false

        mutating func next() async throws -> ArraySlice<UInt8>? {
            if done { return nil }
            var out: [UInt8] = []
            if !started, export.csv { out += AuditExport.header }
            started = true
            let page = try await export.client.withConnection { [export, cursor] connection in
                try await AuditStore(logger: export.logger).list(export.filter, after: cursor, limit: 1000, on: connection)
            }
            if page.count < 1000 { done = true }
            guard let last = page.last else { return out.isEmpty ? nil : out[...] }
            cursor = AuditStore.cursor(of: last, in: export.filter.scope)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            for record in page {
                if export.csv {
                    out += Array(AuditExport.csvLine(record).utf8)
                } else {
                    out += try encoder.encode(APIHandler.schema(record))
                    out.append(0x0A)
                }
            }
            return out[...]
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(export: self) }

    static func csvLine(_ r: AuditRecord) -> String {
        let metadata = (try? JSONSerialization.data(withJSONObject: r.metadata, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let fields: [String?] = [
            String(r.seq), r.occurredAt.formatted(.iso8601), r.actorKind, r.actorID, r.actorDisplay, r.action, r.entityType,
            r.entityID, r.outcome, r.requestID, r.clientIP, r.userAgent, metadata, r.hash.hexString,
        ]
        return fields.map { csvField($0 ?? "") }.joined(separator: ",") + "\n"
    }

    /// RFC 4180: quoted when it holds a comma, quote or line break; quotes doubled.
    static func csvField(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
