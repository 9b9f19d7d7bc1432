import TesseraCore

/// One `[Term]` stanza of an OBO file, with the fields the CAFA evaluation needs.
public struct OBOTerm: Sendable, Hashable, Codable {
    /// The term identifier, e.g. `GO:0008150`.
    public var id: String
    /// The human-readable name (empty when the stanza has no `name:` line).
    public var name: String
    /// The namespace, e.g. `biological_process` (nil when absent).
    public var namespace: String?
    /// The definition text inside the quotes of `def:` (xrefs removed).
    public var definition: String?
    /// True when the stanza carries an `is_obsolete:` line (cafaeval treats any value as obsolete).
    public var isObsolete: Bool
    /// Alternative identifiers (`alt_id:` lines) in file order.
    public var altIds: [String]
    /// Direct `is_a` parents (identifier before any `!` comment) in file order.
    public var isA: [String]
    /// Direct `relationship: part_of` parents in file order.
    public var partOf: [String]

    /// Creates a term from its fields.
    public init(
        id: String, name: String = "", namespace: String? = nil, definition: String? = nil,
        isObsolete: Bool = false, altIds: [String] = [], isA: [String] = [], partOf: [String] = []
    ) {
        self.id = id
        self.name = name
        self.namespace = namespace
        self.definition = definition
        self.isObsolete = isObsolete
        self.altIds = altIds
        self.isA = isA
        self.partOf = partOf
    }
}
