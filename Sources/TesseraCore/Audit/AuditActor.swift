import Foundation

/// Who makes a change and from where: the actor and request fields of every audit record the change leaves.
/// The API builds one from the request's principal; the CLI one that names the command line and the OS user.
public struct AuditActor: Sendable, Equatable {
    public var kind: ActorKind
    public var id: UUID?
    public var display: String?
    public var requestID: String?
    public var clientIP: String?
    public var userAgent: String?
    /// Where the change came from when not the HTTP API (`cli`); recorded as the `source` metadata field.
    public var source: String?

    public init(
        kind: ActorKind, id: UUID? = nil, display: String? = nil, requestID: String? = nil, clientIP: String? = nil,
        userAgent: String? = nil, source: String? = nil
    ) {
        self.kind = kind
        self.id = id
        self.display = display
        self.requestID = requestID
        self.clientIP = clientIP
        self.userAgent = userAgent
        self.source = source
    }

    /// A change made with the `tessera` command by `osUser`.
    public static func commandLine(osUser: String) -> AuditActor {
        AuditActor(kind: .system, display: "cli:\(osUser)", userAgent: "tessera-cli", source: "cli")
    }

    /// The record of `action` by this actor.
    public func event(
        org: UUID?, action: AuditAction, entityType: String? = nil, entityID: String? = nil,
        outcome: AuditOutcome = .succeeded,
        metadata: [String: String] = [:]
    ) -> AuditEvent {
        var metadata = metadata
        if let source { metadata["source"] = source }
        return AuditEvent(
            org: org, actorKind: kind, actorID: id, actorDisplay: display, action: action, entityType: entityType,
            entityID: entityID,
            outcome: outcome, requestID: requestID, clientIP: clientIP, userAgent: userAgent, metadata: metadata)
    }
}
