import TesseraCore

/// An error raised while building a `CAFAOntology`.
public enum CAFAOntologyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The graph of `namespace` contains a cycle (no topological order exists).
    case cycle(namespace: String)
    /// A term identifier occurs twice among the input records.
    case duplicateTerm(id: String)

    /// A human-readable message.
    public var description: String {
        switch self {
        case .cycle(let ns): return "The graph of namespace \(ns) is not acyclic"
        case .duplicateTerm(let id): return "Duplicate term id \(id)"
        }
    }
}
