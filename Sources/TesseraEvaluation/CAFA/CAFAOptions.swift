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

/// Evaluation options mirroring cafaeval's command-line switches (propagation is always `max`).
public struct CAFAOptions: Sendable, Hashable, Codable {
    /// Threshold step (`-th_step`); taus are `np.arange(step, 1, step)`.
    public var thresholdStep: Double
    /// Normalization strategy (`-norm`).
    public var normalization: CAFANormalization
    /// Whether root/orphan terms are evaluated (false = cafaeval `-no_orphans`).
    public var includeOrphans: Bool
    /// Worker threads used across namespaces (results do not depend on it).
    public var threads: Int

    /// Creates options with cafaeval's defaults.
    public init(
        thresholdStep: Double = 0.01, normalization: CAFANormalization = .cafa, includeOrphans: Bool = true,
        threads: Int = 1
    ) {
        self.thresholdStep = thresholdStep
        self.normalization = normalization
        self.includeOrphans = includeOrphans
        self.threads = threads
    }
}
