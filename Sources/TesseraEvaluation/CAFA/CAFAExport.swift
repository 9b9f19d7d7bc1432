import Foundation

/// cafaeval's result files, as its `write_results` writes them: `evaluation_all.tsv` (every kept threshold of every
/// namespace) and `evaluation_best_<metric>.tsv` (the best row of each namespace, with `cov_max`) — the same
/// columns, order and number format (`th_step` decides the decimals), so scripts that read cafaeval's output read
/// Tessera's.
public enum CAFAExport {
    /// One of cafaeval's files.
    public enum File: String, CaseIterable, Sendable {
        case all
        case bestF = "best_f"
        case bestFW = "best_f_w"
        case bestS = "best_s"
        case bestFMicro = "best_f_micro"
        case bestFMicroW = "best_f_micro_w"

        /// cafaeval's name for it.
        public var fileName: String { "evaluation_\(rawValue).tsv" }

        var weighted: Bool { self == .bestFW || self == .bestFMicroW }
    }

    static let columns = [
        "n", "tp", "fp", "fn", "pr", "rc", "cov", "mi", "ru", "f", "s", "pr_micro", "rc_micro", "f_micro",
    ]

    /// The file's text for an evaluation of the predictions named `label` (cafaeval's `filename` column); nil when
    /// the evaluation has no such file (a weighted best without information accretion).
    public static func tsv(_ result: CAFAResult, file: File, label: String, thresholdStep: Double) -> String? {
        let weighted = result.namespaces.contains { $0.curves.nW != nil }
        if file.weighted && !weighted { return nil }
        let decimals = Int((-log10(thresholdStep)).rounded(.up)) + 1
        func number(_ value: Double) -> String {
            value.isNaN ? "" : String(format: "%.\(decimals)f", value)
        }
        var header = ["filename", "ns", "tau"] + columns
        if weighted { header += columns.map { $0 + "_w" } }
        if file != .all { header.append("cov_max") }
        var text = header.joined(separator: "\t") + "\n"
        func row(_ ns: CAFANamespaceResult, _ j: Int, covMax: Double?) {
            var fields = [label, ns.namespace, number(ns.curves.tau[j])]
            fields += values(ns.curves, weighted: weighted).map { number($0[j]) }
            if let covMax { fields.append(number(covMax)) }
            text += fields.joined(separator: "\t") + "\n"
        }
        if file == .all {
            for ns in result.namespaces {
                for j in ns.curves.tau.indices { row(ns, j, covMax: nil) }
            }
            return text
        }
        // One row a namespace, namespaces by name (pandas' groupby).
        for ns in result.namespaces.sorted(by: { $0.namespace < $1.namespace }) {
            let best: (tau: Double, covMax: Double)? =
                switch file {
                case .bestF: ns.best.f.map { ($0.tau, $0.covMax) }
                case .bestFW: ns.best.fW.map { ($0.tau, $0.covMax) }
                case .bestFMicro: ns.best.fMicro.map { ($0.tau, $0.covMax) }
                case .bestFMicroW: ns.best.fMicroW.map { ($0.tau, $0.covMax) }
                case .bestS: ns.best.s.map { ($0.tau, $0.covMax) }
                case .all: nil
                }
            guard let best, let j = ns.curves.tau.firstIndex(of: best.tau) else { continue }
            row(ns, j, covMax: best.covMax)
        }
        return text
    }

    /// The curves' columns in cafaeval's order (the weighted ones after, when asked).
    static func values(_ c: CAFACurves, weighted: Bool) -> [[Double]] {
        var columns = [c.n, c.tp, c.fp, c.fn, c.pr, c.rc, c.cov, c.mi, c.ru, c.f, c.s, c.prMicro, c.rcMicro, c.fMicro]
        if weighted {
            let none = [Double](repeating: .nan, count: c.tau.count)
            columns += [
                c.nW, c.tpW, c.fpW, c.fnW, c.prW, c.rcW, c.covW, c.miW, c.ruW, c.fW, c.sW, c.prMicroW, c.rcMicroW,
                c.fMicroW,
            ].map { $0 ?? none }
        }
        return columns
    }
}
