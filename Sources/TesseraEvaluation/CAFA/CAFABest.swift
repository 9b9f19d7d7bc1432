import TesseraCore

/// A best F point (maximum F, lowest tau on ties) with its precision, recall and coverage.
public struct CAFABestF: Sendable, Hashable, Codable {
    /// The F value.
    public var value: Double
    /// The threshold where it is reached.
    public var tau: Double
    /// Precision at that threshold (micro or weighted variant for those metrics).
    public var pr: Double
    /// Recall at that threshold.
    public var rc: Double
    /// Coverage at that threshold (`cov_w` for weighted metrics).
    public var cov: Double
    /// Maximum coverage over all kept rows of the namespace (cafaeval's `cov_max`).
    public var covMax: Double

    /// Creates a best F point.
    public init(value: Double, tau: Double, pr: Double, rc: Double, cov: Double, covMax: Double) {
        self.value = value
        self.tau = tau
        self.pr = pr
        self.rc = rc
        self.cov = cov
        self.covMax = covMax
    }

    enum CodingKeys: String, CodingKey {
        case value, tau, pr, rc, cov
        case covMax = "cov_max"
    }
}

/// A best S point (minimum S, lowest tau on ties) with its remaining uncertainty and misinformation.
public struct CAFABestS: Sendable, Hashable, Codable {
    /// The S value.
    public var value: Double
    /// The threshold where it is reached.
    public var tau: Double
    /// Remaining uncertainty at that threshold.
    public var ru: Double
    /// Misinformation at that threshold.
    public var mi: Double
    /// Coverage at that threshold (`cov_w` for s_w).
    public var cov: Double
    /// Maximum coverage over all kept rows of the namespace (cafaeval's `cov_max`).
    public var covMax: Double

    /// Creates a best S point.
    public init(value: Double, tau: Double, ru: Double, mi: Double, cov: Double, covMax: Double) {
        self.value = value
        self.tau = tau
        self.ru = ru
        self.mi = mi
        self.cov = cov
        self.covMax = covMax
    }

    enum CodingKeys: String, CodingKey {
        case value, tau, ru, mi, cov
        case covMax = "cov_max"
    }
}

/// The best points of one namespace; weighted ones are nil without an IA map.
public struct CAFABest: Sendable, Hashable, Codable {
    /// Best macro F (cafaeval evaluation_best_f).
    public var f: CAFABestF?
    /// Best micro F (evaluation_best_f_micro).
    public var fMicro: CAFABestF?
    /// Best S (evaluation_best_s).
    public var s: CAFABestS?
    /// Best weighted macro F (evaluation_best_f_w).
    public var fW: CAFABestF?
    /// Best weighted micro F (evaluation_best_f_micro_w).
    public var fMicroW: CAFABestF?
    /// Minimum weighted S (not picked by cafaeval; derived from its s_w column).
    public var sW: CAFABestS?

    /// Creates a set of best points.
    public init(
        f: CAFABestF? = nil, fMicro: CAFABestF? = nil, s: CAFABestS? = nil,
        fW: CAFABestF? = nil, fMicroW: CAFABestF? = nil, sW: CAFABestS? = nil
    ) {
        self.f = f
        self.fMicro = fMicro
        self.s = s
        self.fW = fW
        self.fMicroW = fMicroW
        self.sW = sW
    }

    enum CodingKeys: String, CodingKey {
        case f, s
        case fMicro = "f_micro"
        case fW = "f_w"
        case fMicroW = "f_micro_w"
        case sW = "s_w"
    }
}
