import TesseraCore

/// Normalized per-tau columns for one variant (unweighted or weighted), as cafaeval's `normalize`.
struct CAFAMetricColumns: Sendable {
    /// Predicted-target count and normalized confusion sums, precision and recall per tau.
    var n: [Double], tp: [Double], fp: [Double], fn: [Double], pr: [Double], rc: [Double]
    /// Coverage, F, S and micro-averaged precision/recall/F per tau.
    var cov: [Double], f: [Double], s: [Double], prMicro: [Double], rcMicro: [Double], fMicro: [Double]

    /// Normalizes `sums` by `ne` ground-truth targets and/or the per-tau predicted-target count.
    init(sums: CAFAMetricSums, targets ne: Int, normalization: CAFANormalization) {
        let count = sums.n.count
        let neD = Double(ne)
        func divide(_ x: Double, _ d: Double) -> Double { d > 0 ? x / d : 0 }
        n = sums.n
        tp = []
        fp = []
        fn = []
        pr = []
        rc = []
        cov = []
        f = []
        s = []
        prMicro = []
        rcMicro = []
        fMicro = []
        for j in 0..<count {
            let nj = sums.n[j]
            let general = normalization == .pred ? nj : neD
            let prDenominator = normalization == .gt ? neD : nj
            let tpj = divide(sums.tp[j], general)
            let fpj = divide(sums.fp[j], general)
            let fnj = divide(sums.fn[j], general)
            let prj = divide(sums.pr[j], prDenominator)
            let rcj = divide(sums.rc[j], general)
            tp.append(tpj)
            fp.append(fpj)
            fn.append(fnj)
            pr.append(prj)
            rc.append(rcj)
            cov.append(nj / neD)
            f.append(Self.fScore(prj, rcj))
            s.append((fnj * fnj + fpj * fpj).squareRoot())
            let prm = (tpj + fpj) > 0 ? tpj / (tpj + fpj) : 0
            let rcm = (tpj + fnj) > 0 ? tpj / (tpj + fnj) : 0
            prMicro.append(prm)
            rcMicro.append(rcm)
            fMicro.append(Self.fScore(prm, rcm))
        }
    }

    /// cafaeval's `compute_f`: `2*pr*rc / (pr+rc)`, 0 where the denominator is 0.
    static func fScore(_ pr: Double, _ rc: Double) -> Double {
        let d = pr + rc
        return d != 0 ? (2 * pr * rc) / d : 0
    }
}
