import Foundation
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Audit records of the current request: every handler that changes something appends one in the same
/// transaction as the change, so a change is never acknowledged without its record and a rolled-back change
/// leaves none.
extension APIHandler {
    /// A record by the current principal, from the current request.
    func audit(
        _ action: AuditAction, org: UUID?, entityType: String? = nil, entityID: UUID? = nil,
        outcome: AuditOutcome = .succeeded, metadata: [String: String] = [:]
    ) -> AuditEvent {
        auditActor().event(
            org: org, action: action, entityType: entityType, entityID: entityID.map(Self.id), outcome: outcome,
            metadata: metadata)
    }

    func record(_ event: AuditEvent, on connection: PostgresConnection) async throws {
        if skipAuditForBenchmark { return }  // dev profile only; bench/audit's reference run
        try await AuditStore(logger: logger).append(event, on: connection)
    }
}

extension APIHandler {
    /// The request's principal, id, client address and user agent, for the records of its changes.
    func auditActor() -> AuditActor { AuditActor.fromRequest(RequestScope.principal) }
}

extension AuditActor {
    /// `principal` acting through the current request.
    static func fromRequest(_ principal: Principal?) -> AuditActor {
        let (kind, id, display) = AuditEvent.actor(principal)
        return fromRequest(kind: kind, id: id, display: display)
    }

    /// An actor (one not authenticated yet, say) acting through the current request: its id, client address
    /// and user agent.
    static func fromRequest(kind: ActorKind, id: UUID?, display: String?) -> AuditActor {
        let info = RequestScope.info
        return AuditActor(
            kind: kind, id: id, display: display, requestID: info.requestID,
            clientIP: info.clientAddress == "unknown" ? nil : info.clientAddress, userAgent: info.userAgent)
    }
}

extension AuditEvent {
    /// A record with the request's id, client address and user agent.
    static func fromRequest(
        org: UUID?, actor: (ActorKind, UUID?, String?), action: AuditAction, entityType: String? = nil,
        entityID: String? = nil,
        outcome: AuditOutcome = .succeeded, metadata: [String: String] = [:]
    ) -> AuditEvent {
        AuditActor.fromRequest(kind: actor.0, id: actor.1, display: actor.2).event(
            org: org, action: action, entityType: entityType, entityID: entityID, outcome: outcome, metadata: metadata)
    }
}
