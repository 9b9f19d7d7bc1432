import Foundation

/// Who is making a request, decided once by authentication.
public struct Principal: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case platformAdmin(keyID: UUID)
        case apiKey(keyID: UUID)
        case user(userID: UUID, sessionID: UUID)
    }

    public let kind: Kind
    /// Shown in audit records and logs: a key's display prefix or a user's email.
    public let display: String
    /// What the principal may do in each org it belongs to. A platform admin belongs to none and may act in all.
    public let grants: [UUID: Set<Permission>]

    public init(kind: Kind, display: String, grants: [UUID: Set<Permission>]) {
        self.kind = kind
        self.display = display
        self.grants = grants
    }

    public var isPlatformAdmin: Bool {
        if case .platformAdmin = kind { return true }
        return false
    }

    /// The principal's permissions in `org`, or nil when it is no member there (answered 404, not 403).
    public func permissions(in org: UUID) -> Set<Permission>? {
        isPlatformAdmin ? Set(Permission.allCases) : grants[org]
    }

    /// The id of the actor for audit records.
    public var actorID: UUID {
        switch kind {
        case .platformAdmin(let id), .apiKey(let id): id
        case .user(let id, _): id
        }
    }

    @TaskLocal public static var current: Principal?
}
