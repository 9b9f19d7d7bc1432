import TesseraCore

/// Prediction lines resolved and grouped per (namespace, ground-truth target) as cafaeval's `pred_parser`.
///
/// A raw term belongs to the last namespace (in ontology order, among namespaces with ground truth)
/// where it is a canonical or alternative id; alternative ids are replaced first; lines for targets
/// without ground truth in that namespace are dropped.
struct CAFAGroupedPredictions: Sendable {
    /// Per namespace: CSR offsets per local target.
    var offsets: [[Int32]]
    /// Per namespace: canonical term indexes.
    var terms: [[Int32]]
    /// Per namespace: raw scores.
    var scores: [[Double]]
    /// Per namespace: number of targets with at least one resolved line (cafaeval's `ids[ns]`).
    var predictedTargets: [Int]

    /// Resolves and groups all lines of `predictions`.
    init(ontology: CAFAOntology, truth: CAFAResolvedTruth, predictions: CAFAPredictionTable) {
        let graphs = ontology.graphs
        let nsCount = graphs.count
        let withTruth = (0..<nsCount).filter { !truth.targets[$0].isEmpty }
        // Resolve each distinct raw term once.
        var owner = [Int32](repeating: -1, count: predictions.termIDs.count)
        var canonStart = [Int32](repeating: 0, count: predictions.termIDs.count + 1)
        var canon: [Int32] = []
        for (k, term) in predictions.termIDs.enumerated() {
            var ns = -1
            for n in withTruth where graphs[n].index[term] != nil || graphs[n].altIndex[term] != nil { ns = n }
            if ns >= 0 {
                owner[k] = Int32(ns)
                if let alt = graphs[ns].altIndex[term] {
                    canon.append(contentsOf: alt)
                } else if let i = graphs[ns].index[term] {
                    canon.append(i)
                }
            }
            canonStart[k + 1] = Int32(canon.count)
        }
        // Map each distinct target to its local index per namespace.
        var local = [[Int32]](repeating: [], count: nsCount)
        for n in withTruth {
            local[n] = predictions.targetIDs.map { truth.lookup[n][$0] ?? -1 }
        }
        // Counting pass.
        var counts = (0..<nsCount).map { [Int32](repeating: 0, count: truth.targets[$0].count + 1) }
        let rows = predictions.count
        predictions.termOfRow.withUnsafeBufferPointer { termOfRow in
            predictions.targetOfRow.withUnsafeBufferPointer { targetOfRow in
                for r in 0..<rows {
                    let term = Int(termOfRow[r])
                    let n = Int(owner[term])
                    if n < 0 { continue }
                    let t = local[n][Int(targetOfRow[r])]
                    if t < 0 { continue }
                    counts[n][Int(t) + 1] += canonStart[term + 1] - canonStart[term]
                }
            }
        }
        var offsets = counts
        var predicted = [Int](repeating: 0, count: nsCount)
        for n in 0..<nsCount {
            for t in 0..<truth.targets[n].count {
                if counts[n][t + 1] > 0 { predicted[n] += 1 }
                offsets[n][t + 1] += offsets[n][t]
            }
        }
        // Fill pass.
        var cursor = offsets
        var terms = offsets.map { [Int32](repeating: 0, count: Int($0.last ?? 0)) }
        var scores = offsets.map { [Double](repeating: 0, count: Int($0.last ?? 0)) }
        for r in 0..<rows {
            let term = Int(predictions.termOfRow[r])
            let n = Int(owner[term])
            if n < 0 { continue }
            let t = Int(local[n][Int(predictions.targetOfRow[r])])
            if t < 0 { continue }
            for c in Int(canonStart[term])..<Int(canonStart[term + 1]) {
                let at = Int(cursor[n][t])
                terms[n][at] = canon[c]
                scores[n][at] = predictions.scores[r]
                cursor[n][t] += 1
            }
        }
        self.offsets = offsets
        self.terms = terms
        self.scores = scores
        self.predictedTargets = predicted
    }
}
