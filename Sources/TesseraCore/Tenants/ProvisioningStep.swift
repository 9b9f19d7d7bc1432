/// The steps that bring an org from `provisioning` to `ready`, in order. Each is idempotent: a restarted
/// gateway runs a half-done step again.
public enum ProvisioningStep: String, Sendable, CaseIterable, Codable {
    case place = "place"
    case createRole = "create_role"
    case createDatabase = "create_database"
    case lockDown = "lock_down"
    case createStorage = "create_storage"
    case seedRoles = "seed_roles"
    case markReady = "mark_ready"

    /// How many times a step is taken in all, on its own, when it keeps failing for a passing reason (a
    /// connection lost, the server busy); after the last it fails the org like any other failure.
    /// Eight tries with their pauses span about two minutes.
    public static let automaticAttempts = 8

    /// The pause before a step that failed for a passing reason is taken again, after its `attempt`-th try: 1 s,
    /// doubling, at most 30 s.
    public static func retryDelay(afterAttempt attempt: Int) -> Duration {
        .seconds(min(30, 1 << min(max(attempt - 1, 0), 5)))
    }

    public var summary: String {
        switch self {
        case .place: "choose a database server (least loaded, or the one named)"
        case .createRole: "create the org's login role with a generated password"
        case .createDatabase: "create the org's database from tessera_results_template"
        case .lockDown: "let only the org's role connect to its database"
        case .createStorage: "create the org's storage folder under the artifact root"
        case .seedRoles: "create the system roles and the owner's membership"
        case .markReady: "mark the org ready"
        }
    }
}

public enum StepStatus: String, Sendable, Codable {
    case pending, running, done, failed
}
