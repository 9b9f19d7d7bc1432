import TesseraCore

/// The kind of edge from a term to one of its parents.
public enum CAFARelation: String, Sendable, Hashable, Codable {
    /// An `is_a` edge.
    case isA = "is_a"
    /// A `relationship: part_of` edge.
    case partOf = "part_of"
}

/// A directed edge from a term to a parent term.
public struct CAFAParentLink: Sendable, Hashable, Codable {
    /// The parent term identifier.
    public var id: String
    /// The relation type of the edge.
    public var relation: CAFARelation

    /// Creates a parent link.
    public init(id: String, relation: CAFARelation) {
        self.id = id
        self.relation = relation
    }
}

/// A plain-value term row (e.g. loaded from a database) from which a `CAFAOntology` can be built.
public struct CAFATermRecord: Sendable, Hashable, Codable {
    /// The term identifier.
    public var id: String
    /// The namespace (nil or `external` terms are dropped, as in cafaeval).
    public var namespace: String?
    /// Whether the term is obsolete (obsolete terms are dropped).
    public var isObsolete: Bool
    /// Direct parents with their relation type.
    public var parents: [CAFAParentLink]
    /// Alternative identifiers mapping to this term.
    public var altIds: [String]

    /// Creates a record from plain values.
    public init(
        id: String, namespace: String?, isObsolete: Bool = false, parents: [CAFAParentLink] = [], altIds: [String] = []
    ) {
        self.id = id
        self.namespace = namespace
        self.isObsolete = isObsolete
        self.parents = parents
        self.altIds = altIds
    }

    /// Creates a record from a parsed OBO term (is_a parents first, then part_of).
    public init(_ term: OBOTerm) {
        self.init(
            id: term.id, namespace: term.namespace, isObsolete: term.isObsolete,
            parents: term.isA.map { CAFAParentLink(id: $0, relation: .isA) }
                + term.partOf.map { CAFAParentLink(id: $0, relation: .partOf) },
            altIds: term.altIds)
    }
}
