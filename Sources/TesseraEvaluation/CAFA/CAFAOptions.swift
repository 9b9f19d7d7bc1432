import TesseraCore

/// How cafaeval normalizes the summed per-target metrics.
public enum CAFANormalization: String, Sendable, Hashable, Codable, CaseIterable {
    /// Precision by the number of predicted targets, everything else by the number of ground-truth targets.
    case cafa
    /// Everything by the number of predicted targets (at each tau).
    case pred
    /// Everything by the number of ground-truth targets.
    case gt
}

/// How prediction scores reach a term's ancestors (cafaeval `-prop`).
public enum CAFAPropagation: String, Sendable, Hashable, Codable, CaseIterable {
    /// Every ancestor takes the highest score of the terms below it.
    case max
    /// A term with a score of its own keeps it; one without takes the highest of its children's (after theirs):
    /// "propagate with max until a different score is found".
    case fill
}

/// Evaluation options mirroring cafaeval's command-line switches.
public struct CAFAOptions: Sendable, Hashable, Codable {
    /// Threshold step (`-th_step`); taus are `np.arange(step, 1, step)`.
    public var thresholdStep: Double
    /// Normalization strategy (`-norm`).
    public var normalization: CAFANormalization
    /// Whether root/orphan terms are evaluated (false = cafaeval `-no_orphans`).
    public var includeOrphans: Bool
    /// Worker threads used across namespaces (results do not depend on it).
    public var threads: Int
    /// Propagation of prediction scores (`-prop`; the ground truth always propagates as `max`).
    public var propagation: CAFAPropagation
    /// `-max_terms`: a target's terms in a namespace are read in their lines' order, and a term new to it is left
    /// out once it has more than this many (so, as both tools do, at most `maxTerms + 1`); nil for no limit.
    public var maxTerms: Int?

    /// Creates options with cafaeval's defaults.
    public init(
        thresholdStep: Double = 0.01, normalization: CAFANormalization = .cafa, includeOrphans: Bool = true,
        threads: Int = 1, propagation: CAFAPropagation = .max, maxTerms: Int? = nil
    ) {
        self.thresholdStep = thresholdStep
        self.normalization = normalization
        self.includeOrphans = includeOrphans
        self.threads = threads
        self.propagation = propagation
        self.maxTerms = maxTerms
    }

    enum CodingKeys: String, CodingKey {
        case thresholdStep, normalization, includeOrphans, threads, propagation, maxTerms
    }

    /// Options stored before `propagation` existed read as `max`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        thresholdStep = try c.decode(Double.self, forKey: .thresholdStep)
        normalization = try c.decode(CAFANormalization.self, forKey: .normalization)
        includeOrphans = try c.decode(Bool.self, forKey: .includeOrphans)
        threads = try c.decode(Int.self, forKey: .threads)
        propagation = try c.decodeIfPresent(CAFAPropagation.self, forKey: .propagation) ?? .max
        maxTerms = try c.decodeIfPresent(Int.self, forKey: .maxTerms)
    }
}
