import Foundation

/// The token of a running execution's callback and upload URLs: `{org}.{execution}.{secret}`, ids lower-case, the
/// secret 64 hex digits (only its SHA-256 is stored, with the execution).
enum ExecutionToken {
    static func parse(_ token: String) -> (org: UUID, execution: UUID, secret: String)? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].count == 64, parts[2].allSatisfy(\.isHexDigit),
            parts[0] == parts[0].lowercased(), parts[1] == parts[1].lowercased(),
            let org = UUID(uuidString: String(parts[0])), let execution = UUID(uuidString: String(parts[1]))
        else { return nil }
        return (org, execution, String(parts[2]))
    }
}
