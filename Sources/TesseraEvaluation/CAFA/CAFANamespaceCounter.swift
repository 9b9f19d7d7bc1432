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
    /// `-max_terms` (see `CAFAOptions.maxTerms`); the predictions come in their lines' order.
    var maxTerms: Int? = nil
    /// Terms of interest given by the caller (cafaeval-protea `-toi`), by term index; nil for all.
    var termsOfInterest: [Bool]? = nil
    /// Known annotations per ground-truth target (cafaeval-protea `-known`), CSR like the truth: unpropagated term
    /// indexes, each target's closure excluded from its evaluation. Nil when none are given.
    var knownOffsets: [Int32]? = nil
    var knownTerms: [Int32] = []

    /// cafaeval-protea's rules for which targets count, used when terms of interest or known annotations are given
    /// (the options only it has): a target counts only when its ground truth has a term of interest (for the
    /// weighted measures: one with information accretion), and only one with such a term left after its known
    /// annotations is among the targets that normalize. Without them every ground-truth target counts, as in
    /// cafaeval 1.3.0.
    var restrictsTargets: Bool { termsOfInterest != nil || knownOffsets != nil }

    /// What `run` sums: the unweighted and weighted sums, and how many targets normalize each.
    struct Counted {
        var sums: CAFAMetricSums
        var weighted: CAFAMetricSums?
        var targets: Int
        var weightedTargets: Int
    }

    /// Computes unweighted and (optionally) weighted raw sums.
    func run() -> Counted {
        let T = taus.values.count
        let N = graph.count
        var sums = CAFAMetricSums(count: T)
        var w = CAFAMetricSums(count: ia == nil ? 0 : T)
        let weights = ia ?? [Double](repeating: 0, count: N)
        let weighted = ia != nil
        var toi = [Bool](repeating: true, count: N)
        if !includeOrphans { for i in 0..<N { toi[i] = graph.hasParent(i) } }
        // The weighted measures' terms: those with information accretion (orphans or not, as both tools).
        var toiW = weights.map { $0 > 0 }
        if let chosen = termsOfInterest {
            for i in 0..<N where !chosen[i] {
                toi[i] = false
                toiW[i] = false
            }
        }
        let restricted = restrictsTargets
        var neU = restricted ? 0 : targetCount
        var neW = restricted ? 0 : targetCount
        var knownStamp = [Int32](repeating: -1, count: knownOffsets == nil ? 0 : N)

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
            // Known annotations' closure: excluded from this target's evaluation.
            if let knownOffsets {
                for k in Int(knownOffsets[t])..<Int(knownOffsets[t + 1]) {
                    stack.append(knownTerms[k])
                    while let x = stack.popLast() {
                        let xi = Int(x)
                        if knownStamp[xi] == stamp { continue }
                        knownStamp[xi] = stamp
                        stack.append(contentsOf: graph.parents(ofIndex: xi))
                    }
                }
            }
            let known = knownOffsets != nil
            func counts(_ xi: Int) -> Bool { toi[xi] && !(known && knownStamp[xi] == stamp) }
            func countsW(_ xi: Int) -> Bool { toiW[xi] && !(known && knownStamp[xi] == stamp) }
            var unweightedCounts = true
            var weightedCounts = weighted
            if restricted {
                unweightedCounts = gList.contains { toi[Int($0)] }
                weightedCounts = weighted && gList.contains { toiW[Int($0)] }
                if gList.contains(where: { counts(Int($0)) }) { neU += 1 }
                if weighted && gList.contains(where: { countsW(Int($0)) }) { neW += 1 }
                if !unweightedCounts && !weightedCounts { continue }
            }
            // Deduplicate predictions keeping the max (cafaeval: max(0, ...)).
            touched.removeAll(keepingCapacity: true)
            for k in Int(predOffsets[t])..<Int(predOffsets[t + 1]) {
                let x = Int(predTerms[k])
                if rawStamp[x] != stamp {
                    if let maxTerms, touched.count > maxTerms { continue }
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
                if counts(xi) { cFP[k - 1] += 1 }
                if weighted && countsW(xi) { wFP[k - 1] += weights[xi] }
            }
            var nG = 0
            var wG = 0.0
            var wMissed = 0.0
            for x in gList {
                let xi = Int(x)
                let k = propStamp[xi] == stamp ? taus.passCount(prop[xi]) : 0
                if counts(xi) {
                    nG += 1
                    if k > 0 { cTP[k - 1] += 1 }
                }
                if weighted && countsW(xi) {
                    wG += weights[xi]
                    if k > 0 { wTP[k - 1] += weights[xi] } else { wMissed += weights[xi] }
                }
            }
            // Suffix sums give counts at each tau.
            if unweightedCounts {
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
            }
            if weightedCounts {
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
        return Counted(sums: sums, weighted: weighted ? w : nil, targets: neU, weightedTargets: neW)
    }
}
