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

    /// Up to `limit` undelivered events, oldest first, each with the job state it carries.
    public static func pending(limit: Int, on connection: PostgresConnection, logger: Logger) async throws
        -> [(event: AuditEvent, job: JobMirror.Update?)]
    {
        let rows = try await connection.query(
            "SELECT event::text FROM audit_outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT \(limit)",
            logger: logger)
        var events: [(AuditEvent, JobMirror.Update?)] = []
        for try await text in rows.decode(String.self) {
            let stored = try JSONDecoder().decode(OutboxEvent.self, from: Data(text.utf8))
            events.append((try stored.event(), stored.job))
        }
        return events
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
