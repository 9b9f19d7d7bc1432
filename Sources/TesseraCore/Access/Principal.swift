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
    /// What the principal may do in each org it belongs to. A platform admin may act in every org.
    public let grants: [UUID: Set<Permission>]
    /// The bootstrap key, or a user marked platform admin.
    public let isPlatformAdmin: Bool

    public init(kind: Kind, display: String, grants: [UUID: Set<Permission>], isPlatformAdmin: Bool? = nil) {
        self.kind = kind
        self.display = display
        self.grants = grants
        if let isPlatformAdmin {
            self.isPlatformAdmin = isPlatformAdmin
        } else if case .platformAdmin = kind {
            self.isPlatformAdmin = true
        } else {
            self.isPlatformAdmin = false
        }
    }

    /// The principal's permissions in `org`, or nil when it is no member there (answered 404, not 403).
    public func permissions(in org: UUID) -> Set<Permission>? {
        isPlatformAdmin ? Self.everyPermission : grants[org]
    }

    /// A platform admin's permissions in any org, made once (this is read on every org request).
    static let everyPermission = Set(Permission.allCases)
}
