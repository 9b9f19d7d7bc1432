import TesseraCore

/// Normalizes raw sums, drops cov == 0 rows and picks best points as cafaeval's `cafa_eval`.
enum CAFANamespaceResultBuilder {
    /// Builds the namespace result from unweighted and optional weighted sums.
    static func build(
        namespace: String, targets: Int, weightedTargets: Int? = nil, predictedTargets: Int, taus: CAFATauGrid,
        sums: CAFAMetricSums, weightedSums: CAFAMetricSums?,
        normalization: CAFANormalization
    ) -> CAFANamespaceResult {
        let u = CAFAMetricColumns(sums: sums, targets: targets, normalization: normalization)
        let w = weightedSums.map {
            CAFAMetricColumns(sums: $0, targets: weightedTargets ?? targets, normalization: normalization)
        }
        let keep = taus.values.indices.filter { u.cov[$0] > 0 }
        func pick(_ column: [Double]) -> [Double] { keep.map { column[$0] } }

        var curves = CAFACurves()
        curves.tau = pick(taus.values)
        curves.n = pick(u.n)
        curves.tp = pick(u.tp)
        curves.fp = pick(u.fp)
        curves.fn = pick(u.fn)
        curves.pr = pick(u.pr)
        curves.rc = pick(u.rc)
        curves.cov = pick(u.cov)
        curves.mi = pick(u.fp)
        curves.ru = pick(u.fn)
        curves.f = pick(u.f)
        curves.s = pick(u.s)
        curves.prMicro = pick(u.prMicro)
        curves.rcMicro = pick(u.rcMicro)
        curves.fMicro = pick(u.fMicro)
        if let w {
            curves.nW = pick(w.n)
            curves.tpW = pick(w.tp)
            curves.fpW = pick(w.fp)
            curves.fnW = pick(w.fn)
            curves.prW = pick(w.pr)
            curves.rcW = pick(w.rc)
            curves.covW = pick(w.cov)
            curves.miW = pick(w.fp)
            curves.ruW = pick(w.fn)
            curves.fW = pick(w.f)
            curves.sW = pick(w.s)
            curves.prMicroW = pick(w.prMicro)
            curves.rcMicroW = pick(w.rcMicro)
            curves.fMicroW = pick(w.fMicro)
        }

        var best = CAFABest()
        let covMax = keep.map { u.cov[$0] }.max() ?? 0
        best.f = bestF(keep, u.f, u.pr, u.rc, u.cov, taus, covMax)
        best.fMicro = bestF(keep, u.fMicro, u.prMicro, u.rcMicro, u.cov, taus, covMax)
        best.s = bestS(keep, u.s, u.fn, u.fp, u.cov, taus, covMax)
        if let w {
            let covMaxW = keep.map { w.cov[$0] }.max() ?? 0
            best.fW = bestF(keep, w.f, w.pr, w.rc, w.cov, taus, covMaxW)
            best.fMicroW = bestF(keep, w.fMicro, w.prMicro, w.rcMicro, w.cov, taus, covMaxW)
            best.sW = bestS(keep, w.s, w.fn, w.fp, w.cov, taus, covMaxW)
        }
        return CAFANamespaceResult(
            namespace: namespace, targets: targets, predictedTargets: predictedTargets,
            best: best, curves: curves)
    }

    /// First row (lowest tau) with the maximum value, like pandas `idxmax`.
    static func bestF(
        _ keep: [Int], _ value: [Double], _ pr: [Double], _ rc: [Double], _ cov: [Double],
        _ taus: CAFATauGrid, _ covMax: Double
    ) -> CAFABestF? {
        var bestRow: Int?
        for j in keep where !value[j].isNaN {
            if let b = bestRow { if value[j] > value[b] { bestRow = j } } else { bestRow = j }
        }
        guard let j = bestRow else { return nil }
        return CAFABestF(value: value[j], tau: taus.values[j], pr: pr[j], rc: rc[j], cov: cov[j], covMax: covMax)
    }

    /// First row (lowest tau) with the minimum value, like pandas `idxmin`.
    static func bestS(
        _ keep: [Int], _ value: [Double], _ ru: [Double], _ mi: [Double], _ cov: [Double],
        _ taus: CAFATauGrid, _ covMax: Double
    ) -> CAFABestS? {
        var bestRow: Int?
        for j in keep where !value[j].isNaN {
            if let b = bestRow { if value[j] < value[b] { bestRow = j } } else { bestRow = j }
        }
        guard let j = bestRow else { return nil }
        return CAFABestS(value: value[j], tau: taus.values[j], ru: ru[j], mi: mi[j], cov: cov[j], covMax: covMax)
    }
}
