import Foundation
import TesseraCore

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
