import TesseraCore

/// Per-tau metric columns named exactly like cafaeval's evaluation_all.tsv.
public struct CAFACurves: Sendable, Hashable, Codable {
    /// Thresholds of the kept rows.
    public var tau: [Double] = []
    /// Unweighted columns (always present).
    public var n: [Double] = [], tp: [Double] = [], fp: [Double] = [], fn: [Double] = []
    /// Precision, recall and coverage.
    public var pr: [Double] = [], rc: [Double] = [], cov: [Double] = []
    /// Misinformation, remaining uncertainty, F and S.
    public var mi: [Double] = [], ru: [Double] = [], f: [Double] = [], s: [Double] = []
    /// Micro-averaged precision, recall and F.
    public var prMicro: [Double] = [], rcMicro: [Double] = [], fMicro: [Double] = []
    /// Weighted columns (nil without an IA map).
    public var nW: [Double]?, tpW: [Double]?, fpW: [Double]?, fnW: [Double]?
    /// Weighted precision, recall and coverage.
    public var prW: [Double]?, rcW: [Double]?, covW: [Double]?
    /// Weighted misinformation, remaining uncertainty, F and S.
    public var miW: [Double]?, ruW: [Double]?, fW: [Double]?, sW: [Double]?
    /// Weighted micro-averaged precision, recall and F.
    public var prMicroW: [Double]?, rcMicroW: [Double]?, fMicroW: [Double]?

    /// Creates empty curves.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case tau, n, tp, fp, fn, pr, rc, cov, mi, ru, f, s
        case prMicro = "pr_micro"
        case rcMicro = "rc_micro"
        case fMicro = "f_micro"
        case nW = "n_w"
        case tpW = "tp_w"
        case fpW = "fp_w"
        case fnW = "fn_w"
        case prW = "pr_w"
        case rcW = "rc_w"
        case covW = "cov_w"
        case miW = "mi_w"
        case ruW = "ru_w"
        case fW = "f_w"
        case sW = "s_w"
        case prMicroW = "pr_micro_w"
        case rcMicroW = "rc_micro_w"
        case fMicroW = "f_micro_w"
    }
}
