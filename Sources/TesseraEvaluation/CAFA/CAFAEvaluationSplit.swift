import TesseraCore

/// The CAFA benchmark categories of a target in one namespace.
public enum CAFACategory: String, Sendable, Hashable, Codable, CodingKeyRepresentable, CaseIterable {
    /// No knowledge: no annotation in any namespace before, annotations in this namespace now.
    case nk = "NK"
    /// Limited knowledge: annotations only in other namespaces before, annotations in this namespace now.
    case lk = "LK"
    /// Partial knowledge: annotations in this namespace before, plus new terms outside their propagated closure.
    case pk = "PK"
}

/// The ground truth of one (category, namespace) cell of the split.
public struct CAFASplitPart: Sendable, Hashable, Codable {
    /// Target → raw (unpropagated) term ids, in input order.
    public var truth: [String: [String]]
    /// Number of targets.
    public var targets: Int { truth.count }
    /// Number of (target, term) annotations.
    public var annotations: Int { truth.values.reduce(0) { $0 + $1.count } }

    /// Creates a part from its truth map.
    public init(truth: [String: [String]] = [:]) { self.truth = truth }
}

/// Splits new annotations into NK/LK/PK ground truths per namespace, given the old annotations.
///
/// Terms are assigned to namespaces as cafaeval's gt_parser resolves them (canonical id first, then
/// alt id); terms unknown to the ontology are ignored in both old and new. NOT-qualified
/// annotations must already be removed by the caller.
public struct CAFAEvaluationSplit: Sendable, Hashable, Codable {
    /// Category → namespace → part (namespaces without targets are absent).
    public var parts: [CAFACategory: [String: CAFASplitPart]]

    /// Computes the split.
    public init(old: [String: [String]], new: [String: [String]], ontology: CAFAOntology) {
        let graphs = ontology.graphs
        // Old canonical indexes per target per namespace.
        var oldByTarget: [String: [Int: [Int32]]] = [:]
        for (target, terms) in old {
            for term in terms {
                guard let (n, idx) = ontology.resolveTruthTerm(term) else { continue }
                oldByTarget[target, default: [:]][n, default: []].append(contentsOf: idx)
            }
        }
        var parts: [CAFACategory: [String: CAFASplitPart]] = [:]
        for (target, terms) in new {
            var newByNS: [Int: [(raw: String, idx: [Int32])]] = [:]
            for term in terms {
                guard let (n, idx) = ontology.resolveTruthTerm(term) else { continue }
                if newByNS[n]?.contains(where: { $0.raw == term }) == true { continue }
                newByNS[n, default: []].append((term, idx))
            }
            let oldNS = oldByTarget[target] ?? [:]
            for (n, entries) in newByNS {
                let g = graphs[n]
                let category: CAFACategory
                var selected: [String]
                if oldNS.isEmpty {
                    category = .nk
                    selected = entries.map(\.raw)
                } else if let oldTerms = oldNS[n], !oldTerms.isEmpty {
                    category = .pk
                    var closure = Set<Int32>()
                    for i in oldTerms {
                        closure.insert(i)
                        closure.formUnion(g.ancestors(ofIndex: Int(i)))
                    }
                    selected = entries.filter { !$0.idx.allSatisfy(closure.contains) }.map(\.raw)
                    if selected.isEmpty { continue }
                } else {
                    category = .lk
                    selected = entries.map(\.raw)
                }
                parts[category, default: [:]][g.namespace, default: CAFASplitPart()].truth[target] = selected
            }
        }
        self.parts = parts
    }

    /// The part for a category and namespace (empty when absent).
    public func part(_ category: CAFACategory, _ namespace: String) -> CAFASplitPart {
        parts[category]?[namespace] ?? CAFASplitPart()
    }
}
