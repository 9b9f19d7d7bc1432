import TesseraCore

/// Sparse per-target propagation and tau-bucket counting for one namespace.
///
/// For every ground-truth target it propagates truth and prediction scores to ancestors (max),
/// then bins each propagated term by how many taus its score passes, so each target costs
/// O(propagated terms + taus) instead of O(terms × taus).
struct CAFANamespaceCounter: Sendable {
    /// The namespace graph.
    let graph: CAFANamespaceGraph
    /// Thresholds.
    let taus: CAFATauGrid
    /// Number of ground-truth targets.
    let targetCount: Int
    /// CSR offsets of truth term indexes per target.
    let truthOffsets: [Int32]
    /// Flattened (unpropagated) truth term indexes.
    let truthTerms: [Int32]
    /// CSR offsets of prediction entries per target.
    let predOffsets: [Int32]
    /// Flattened prediction term indexes.
    let predTerms: [Int32]
    /// Flattened prediction scores.
    let predScores: [Double]
    /// Cleaned IA per term index (nil = unweighted only).
    let ia: [Double]?
    /// Whether orphan terms are among the terms of interest.
    let includeOrphans: Bool
    /// How prediction scores reach ancestors.
    var propagation: CAFAPropagation = .max

    /// Computes unweighted and (optionally) weighted raw sums.
    func run() -> (CAFAMetricSums, CAFAMetricSums?) {
        let T = taus.values.count
        let N = graph.count
        var sums = CAFAMetricSums(count: T)
        var w = CAFAMetricSums(count: ia == nil ? 0 : T)
        let weights = ia ?? [Double](repeating: 0, count: N)
        let weighted = ia != nil
        var toi = [Bool](repeating: true, count: N)
        if !includeOrphans { for i in 0..<N { toi[i] = graph.hasParent(i) } }

        var gtStamp = [Int32](repeating: -1, count: N)
        var rawStamp = [Int32](repeating: -1, count: N)
        var propStamp = [Int32](repeating: -1, count: N)
        var raw = [Double](repeating: 0, count: N)
        var prop = [Double](repeating: 0, count: N)
        var gList: [Int32] = []
        var pList: [Int32] = []
        var touched: [Int32] = []
        var stack: [Int32] = []
        var cTP = [Int](repeating: 0, count: T)
        var cFP = cTP
        var wTP = [Double](repeating: 0, count: T)
        var wFP = wTP
        var wFN = wTP

        for t in 0..<targetCount {
            let stamp = Int32(t)
            // Ground-truth closure.
            gList.removeAll(keepingCapacity: true)
            for k in Int(truthOffsets[t])..<Int(truthOffsets[t + 1]) {
                stack.append(truthTerms[k])
                while let x = stack.popLast() {
                    let xi = Int(x)
                    if gtStamp[xi] == stamp { continue }
                    gtStamp[xi] = stamp
                    gList.append(x)
                    stack.append(contentsOf: graph.parents(ofIndex: xi))
                }
            }
            // Deduplicate predictions keeping the max (cafaeval: max(0, ...)).
            touched.removeAll(keepingCapacity: true)
            for k in Int(predOffsets[t])..<Int(predOffsets[t + 1]) {
                let x = Int(predTerms[k])
                if rawStamp[x] != stamp {
                    rawStamp[x] = stamp
                    raw[x] = 0
                    touched.append(Int32(x))
                }
                if predScores[k] > raw[x] { raw[x] = predScores[k] }
            }
            // Propagate to ancestors, highest scores first: with `max` every ancestor takes the highest score
            // below it; with `fill` a term that has a score of its own keeps it and stops higher ones from below
            // (cafaeval's dense sweep: a term without a score takes the highest of its children's).
            pList.removeAll(keepingCapacity: true)
            if !touched.isEmpty {
                touched.sort { raw[Int($0)] > raw[Int($1)] }
                let fill = propagation == .fill
                for start in touched {
                    let s = raw[Int(start)]
                    if !(s > 0) { break }
                    if propStamp[Int(start)] == stamp { continue }
                    propStamp[Int(start)] = stamp
                    prop[Int(start)] = s
                    pList.append(start)
                    stack.append(contentsOf: graph.parents(ofIndex: Int(start)))
                    while let x = stack.popLast() {
                        let xi = Int(x)
                        if propStamp[xi] == stamp { continue }
                        if fill && rawStamp[xi] == stamp && raw[xi] > 0 { continue }
                        propStamp[xi] = stamp
                        prop[xi] = s
                        pList.append(x)
                        stack.append(contentsOf: graph.parents(ofIndex: xi))
                    }
                }
            }
            // Bucket counts: bucket b holds terms passing exactly b+1 taus.
            for j in 0..<T {
                cTP[j] = 0
                cFP[j] = 0
            }
            if weighted {
                for j in 0..<T {
                    wTP[j] = 0
                    wFP[j] = 0
                }
            }
            for x in pList {
                let xi = Int(x)
                if gtStamp[xi] == stamp { continue }
                let k = taus.passCount(prop[xi])
                if k == 0 { continue }
                if toi[xi] { cFP[k - 1] += 1 }
                if weighted && weights[xi] > 0 { wFP[k - 1] += weights[xi] }
            }
            var nG = 0
            var wG = 0.0
            var wMissed = 0.0
            for x in gList {
                let xi = Int(x)
                let k = propStamp[xi] == stamp ? taus.passCount(prop[xi]) : 0
                if toi[xi] {
                    nG += 1
                    if k > 0 { cTP[k - 1] += 1 }
                }
                if weighted && weights[xi] > 0 {
                    wG += weights[xi]
                    if k > 0 { wTP[k - 1] += weights[xi] } else { wMissed += weights[xi] }
                }
            }
            // Suffix sums give counts at each tau.
            var tpj = 0
            var fpj = 0
            for j in stride(from: T - 1, through: 0, by: -1) {
                tpj += cTP[j]
                fpj += cFP[j]
                let p = tpj + fpj
                if p > 0 {
                    sums.n[j] += 1
                    sums.pr[j] += Double(tpj) / Double(p)
                }
                sums.tp[j] += Double(tpj)
                sums.fp[j] += Double(fpj)
                sums.fn[j] += Double(nG - tpj)
                if nG > 0 { sums.rc[j] += Double(tpj) / Double(nG) }
            }
            if weighted {
                var missed = wMissed
                for j in 0..<T {
                    wFN[j] = missed
                    missed += wTP[j]
                }
                var wtp = 0.0
                var wfp = 0.0
                for j in stride(from: T - 1, through: 0, by: -1) {
                    wtp += wTP[j]
                    wfp += wFP[j]
                    let p = wtp + wfp
                    if p > 0 {
                        w.n[j] += 1
                        w.pr[j] += wtp / p
                    }
                    w.tp[j] += wtp
                    w.fp[j] += wfp
                    w.fn[j] += wFN[j]
                    if wG > 0 { w.rc[j] += wtp / wG }
                }
            }
        }
        return (sums, weighted ? w : nil)
    }
}
