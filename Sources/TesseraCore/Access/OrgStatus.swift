/// An organisation's lifecycle; only a `ready` org serves requests.
public enum OrgStatus: String, Sendable, CaseIterable, Codable {
    case provisioning, ready, suspended, failed, deleting
}
