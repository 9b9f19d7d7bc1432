import TesseraCore

/// A CAFA ontology: one DAG per namespace, built with exactly cafaeval's `obo_parser` rules.
public struct CAFAOntology: Sendable {
    /// Per-namespace graphs in order of first appearance of a kept term.
    public let graphs: [CAFANamespaceGraph]
    /// Namespace name to position in `graphs`.
    public let namespaceIndex: [String: Int]

    /// Builds the ontology from a parsed OBO document.
    public init(document: OBODocument) throws {
        try self.init(records: document.terms.map(CAFATermRecord.init))
    }

    /// Builds the ontology from plain term rows (obsolete, namespace-less and `external` terms dropped).
    public init(records: [CAFATermRecord]) throws {
        var order: [String] = []
        var ids: [String: [String]] = [:]
        var parents: [String: [[String]]] = [:]
        var alts: [String: [[String]]] = [:]
        var seen = Set<String>()
        for r in records {
            guard seen.insert(r.id).inserted else { throw CAFAOntologyError.duplicateTerm(id: r.id) }
            guard !r.isObsolete, let ns = r.namespace, !ns.isEmpty, ns != "external" else { continue }
            if ids[ns] == nil { order.append(ns) }
            ids[ns, default: []].append(r.id)
            parents[ns, default: []].append(r.parents.map(\.id))
            alts[ns, default: []].append(r.altIds)
        }
        var graphs: [CAFANamespaceGraph] = []
        var nsIndex: [String: Int] = [:]
        for ns in order {
            nsIndex[ns] = graphs.count
            graphs.append(
                try CAFANamespaceGraph(
                    namespace: ns, termIDs: ids[ns] ?? [], parents: parents[ns] ?? [],
                    altIds: alts[ns] ?? []))
        }
        self.graphs = graphs
        self.namespaceIndex = nsIndex
    }

    /// Namespace names in ontology order.
    public var namespaces: [String] { graphs.map(\.namespace) }

    /// The graph of a namespace, if present.
    public func graph(_ namespace: String) -> CAFANamespaceGraph? {
        namespaceIndex[namespace].map { graphs[$0] }
    }

    /// The namespace in which `termID` is a canonical (non-obsolete) term.
    public func namespace(of termID: String) -> String? {
        graphs.first { $0.index[termID] != nil }?.namespace
    }

    /// Canonical ids for a raw id resolved as cafaeval's `gt_parser` does (canonical first, then alt, per namespace).
    public func resolveTruthTerm(_ termID: String) -> (namespace: Int, indexes: [Int32])? {
        for (n, g) in graphs.enumerated() {
            if let i = g.index[termID] { return (n, [i]) }
            if let a = g.altIndex[termID] { return (n, a) }
        }
        return nil
    }

    /// Transitive ancestors (is_a and part_of, within the namespace) of a canonical or alternative id.
    public func ancestors(of termID: String, includingSelf: Bool = false) -> Set<String> {
        guard let (n, indexes) = resolveTruthTerm(termID) else { return [] }
        let g = graphs[n]
        var result = Set<String>()
        for i in indexes {
            if includingSelf { result.insert(g.termIDs[Int(i)]) }
            for a in g.ancestors(ofIndex: Int(i)) { result.insert(g.termIDs[Int(a)]) }
        }
        return result
    }
}
