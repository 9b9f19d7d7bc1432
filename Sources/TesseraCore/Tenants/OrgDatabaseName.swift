import Foundation

/// The one place database and role names are made: `org_` + the 32 hex digits of the org's
/// server-generated UUID (36 characters, under PostgreSQL's 63-byte limit). Nothing a client sends ever
/// becomes an identifier.
public struct OrgDatabaseName: Sendable, Equatable, CustomStringConvertible {
    public let value: String

    public init(org: UUID) {
        self.value = "org_" + org.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    /// Recognises a name made by `init(org:)` (for the orphan sweep); nil for anything else.
    public init?(existing name: String) {
        guard name.count == 36, name.hasPrefix("org_"),
            name.dropFirst(4).allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) })
        else { return nil }
        self.value = name
    }

    /// The org this name was made from.
    public var org: UUID {
        let hex = Array(value.dropFirst(4))
        let parts = [hex[0..<8], hex[8..<12], hex[12..<16], hex[16..<20], hex[20..<32]].map { String($0) }
        return UUID(uuidString: parts.joined(separator: "-"))!
    }

    /// Double-quoted for SQL; safe because the value is only ever hex digits and `org_`.
    public var quoted: String { "\"\(value)\"" }

    public var description: String { value }
}
