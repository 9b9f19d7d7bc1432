import TesseraCore

/// Ground truth resolved per namespace as cafaeval's `gt_parser` (canonical first, then alt ids).
struct CAFAResolvedTruth: Sendable {
    /// Per namespace: target ids in order of first appearance.
    var targets: [[String]]
    /// Per namespace: target id to local index.
    var lookup: [[String: Int32]]
    /// Per namespace: CSR offsets into `terms`.
    var offsets: [[Int32]]
    /// Per namespace: flattened canonical term indexes (unpropagated, possibly repeated).
    var terms: [[Int32]]

    /// Resolves truth lines; unknown terms are discarded.
    init(ontology: CAFAOntology, truth: CAFATruthTable) {
        let count = ontology.graphs.count
        var targets = [[String]](repeating: [], count: count)
        var lookup = [[String: Int32]](repeating: [:], count: count)
        var perTarget = [[[Int32]]](repeating: [], count: count)
        for row in truth.rows {
            guard let (n, indexes) = ontology.resolveTruthTerm(row.term) else { continue }
            let local: Int32
            if let existing = lookup[n][row.target] {
                local = existing
            } else {
                local = Int32(targets[n].count)
                lookup[n][row.target] = local
                targets[n].append(row.target)
                perTarget[n].append([])
            }
            perTarget[n][Int(local)].append(contentsOf: indexes)
        }
        self.targets = targets
        self.lookup = lookup
        self.offsets = perTarget.map { lists in
            var o: [Int32] = [0]
            for l in lists { o.append(o[o.count - 1] + Int32(l.count)) }
            return o
        }
        self.terms = perTarget.map { $0.flatMap { $0 } }
    }
}
