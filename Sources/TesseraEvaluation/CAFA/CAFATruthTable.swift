import TesseraCore

/// An ordered list of ground-truth annotation lines `target term` (file order preserved).
public struct CAFATruthTable: Sendable, Hashable {
    /// Annotation lines in order.
    public private(set) var rows: [(target: String, term: String)] = []

    /// Creates an empty table.
    public init() {}

    /// Creates a table from a target → raw terms map (targets sorted for determinism).
    public init(_ truth: [String: [String]]) {
        for target in truth.keys.sorted() {
            for term in truth[target] ?? [] { rows.append((target, term)) }
        }
    }

    /// Appends one annotation line.
    public mutating func append(target: String, term: String) { rows.append((target, term)) }

    /// Equality over all rows.
    public static func == (a: CAFATruthTable, b: CAFATruthTable) -> Bool {
        a.rows.count == b.rows.count && zip(a.rows, b.rows).allSatisfy { $0.target == $1.target && $0.term == $1.term }
    }

    /// Hashes all rows.
    public func hash(into hasher: inout Hasher) {
        for r in rows {
            hasher.combine(r.target)
            hasher.combine(r.term)
        }
    }
}
