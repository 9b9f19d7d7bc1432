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

    static func lines(client: PostgresClient, filter: AuditFilter, csv: Bool, logger: Logger) -> PagedExport<
        AuditRecord, Int64
    > {
        PagedExport(
            fetch: { after, limit in
                try await client.withConnection {
                    try await AuditStore(logger: logger).list(filter, after: after, limit: limit, on: $0)
                }
            },
            cursor: { AuditStore.cursor(of: $0, in: filter.scope) },
            header: csv ? header : nil,
            line: { record in csv ? csvLine(record) : try ExportLines.ndjson(AuditLogsController.schema(record)) })
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
