/// Everything a principal may be allowed to do inside one org. The one list; roles are sets of these.
public enum Permission: String, Sendable, CaseIterable, Codable, Comparable {
    case orgsManage = "orgs.manage"
    case membersManage = "members.manage"
    case rolesManage = "roles.manage"
    case keysManage = "keys.manage"
    case predictionsRead = "predictions.read"
    case predictionsWrite = "predictions.write"
    case evaluationsRead = "evaluations.read"
    case evaluationsWrite = "evaluations.write"
    case tasksRead = "tasks.read"
    case tasksWrite = "tasks.write"
    case jobsRead = "jobs.read"
    case jobsWrite = "jobs.write"
    case auditRead = "audit.read"

    public static func < (a: Permission, b: Permission) -> Bool { a.rawValue < b.rawValue }

    /// Parses a list of permission names; nil names the first unknown one.
    public static func parse(_ names: [String]) -> Result<Set<Permission>, UnknownPermission> {
        var set: Set<Permission> = []
        for name in names {
            guard let p = Permission(rawValue: name) else { return .failure(UnknownPermission(name: name)) }
            set.insert(p)
        }
        return .success(set)
    }
}

public struct UnknownPermission: Error, Equatable {
    public let name: String
}

/// The roles every org is seeded with.
public enum SystemRole: String, Sendable, CaseIterable {
    case owner, admin, editor, viewer, auditor

    public var permissions: Set<Permission> {
        let reads: Set<Permission> = [.predictionsRead, .evaluationsRead, .tasksRead, .jobsRead]
        let writes: Set<Permission> = [.predictionsWrite, .evaluationsWrite, .tasksWrite, .jobsWrite]
        switch self {
        case .owner: return Set(Permission.allCases)
        case .admin: return Set(Permission.allCases).subtracting([.orgsManage])
        case .editor: return reads.union(writes)
        case .viewer: return reads
        case .auditor: return [.auditRead]
        }
    }

    public var description: String {
        switch self {
        case .owner: "everything, including the org itself"
        case .admin: "members, roles, keys and all work; not the org itself"
        case .editor: "read and write predictions, evaluations, tasks and jobs"
        case .viewer: "read predictions, evaluations, tasks and jobs"
        case .auditor: "read the audit log"
        }
    }
}
