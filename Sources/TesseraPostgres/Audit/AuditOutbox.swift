import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// Audit events of changes in an org's own database: written into that database's `audit_outbox` in the
/// change's transaction, then moved to `audit_logs` by the relay (by event id, so a second delivery is a no-op).
public enum AuditOutbox {
    /// Writes `event` (and the job state it carries to the jobs mirror) into the outbox of the database
    /// `connection` is in, in the caller's transaction. Changes write through `OrgAuditTrail`.
    static func write(
        _ event: AuditEvent, job: JobMirror.Update?, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let json = try JSONText.encode(OutboxEvent(event, job: job))
        try await connection.query(
            "INSERT INTO audit_outbox (event_id, event) VALUES (\(event.eventID), \(json)::jsonb)", logger: logger)
    }

    /// What the relay found in an outbox row.
    public enum Pending: Sendable {
        /// A record to append (stamped with the org whose database it came from), with the job state it carries.
        case event(AuditEvent, JobMirror.Update?)
        /// A row the relay does not believe: not a record, or an action an org's database never writes.
        case rejected(eventID: UUID, claimedAction: String, reason: String)

        public var eventID: UUID {
            switch self {
            case .event(let event, _): event.eventID
            case .rejected(let id, _, _): id
            }
        }
    }

    /// Up to `limit` undelivered rows, oldest first. An org's database is not trusted to say which org it is
    /// (every record takes `org`) nor to write any action but a tenant one (`AuditAction.isTenantAction`).
    public static func pending(org: UUID, limit: Int, on connection: PostgresConnection, logger: Logger) async throws
        -> [Pending]
    {
        let rows = try await connection.query(
            "SELECT event_id, event::text FROM audit_outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT \(limit)",
            logger: logger)
        var pending: [Pending] = []
        for try await (id, text) in rows.decode((UUID, String).self) {
            guard let stored = try? JSONDecoder().decode(OutboxEvent.self, from: Data(text.utf8)),
                stored.event_id == id, var event = try? stored.event()
            else {
                pending.append(.rejected(eventID: id, claimedAction: "", reason: "not an audit record"))
                continue
            }
            guard event.action.isTenantAction else {
                pending.append(
                    .rejected(
                        eventID: id, claimedAction: event.action.rawValue,
                        reason: "an action an org's database does not write"))
                continue
            }
            if event.org != org {
                logger.warning(
                    "an outbox record named another org; relayed as its database's org",
                    metadata: ["org": "\(org)", "claimed_org": "\(event.org.map { "\($0)" } ?? "none")"])
            }
            event.org = org
            pending.append(.event(event, stored.job))
        }
        return pending
    }

    public static func markDelivered(_ ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "UPDATE audit_outbox SET delivered_at = now() WHERE event_id = ANY(\(ids))", logger: logger)
    }
}

/// The outbox's JSON form of an event.
struct OutboxEvent: Codable {
    var event_id: UUID
    var org_id: UUID?
    var actor_kind: String
    var actor_id: UUID?
    var actor_display: String?
    var action: String
    var entity_type: String?
    var entity_id: String?
    var outcome: String
    var request_id: String?
    var client_ip: String?
    var user_agent: String?
    var metadata: [String: String]
    /// For the jobs mirror, not the audit log.
    var job: JobMirror.Update?

    init(_ e: AuditEvent, job: JobMirror.Update?) {
        self.job = job
        event_id = e.eventID
        org_id = e.org
        actor_kind = e.actorKind.rawValue
        actor_id = e.actorID
        actor_display = e.actorDisplay
        action = e.action.rawValue
        entity_type = e.entityType
        entity_id = e.entityID
        outcome = e.outcome.rawValue
        request_id = e.requestID
        client_ip = e.clientIP
        user_agent = e.userAgent
        metadata = e.metadata
    }

    func event() throws -> AuditEvent {
        do {
            guard let kind = ActorKind(rawValue: actor_kind), let action = AuditAction(rawValue: action),
                let outcome = AuditOutcome(rawValue: outcome)
            else { throw TesseraError.internalError }
            return AuditEvent(
                org: org_id, actorKind: kind, actorID: actor_id, actorDisplay: actor_display, action: action,
                entityType: entity_type,
                entityID: entity_id, outcome: outcome, requestID: request_id, clientIP: client_ip,
                userAgent: user_agent,
                metadata: metadata, eventID: event_id)
        }
    }
}
