import TesseraCore

/// The evaluation result over all evaluated namespaces (JSON keys in snake_case).
public struct CAFAResult: Sendable, Hashable, Codable {
    /// Evaluated namespaces in ontology order.
    public var namespaces: [CAFANamespaceResult]

    /// Creates a result.
    public init(namespaces: [CAFANamespaceResult]) { self.namespaces = namespaces }
}

/// The result for one namespace: sizes, best points and full curves.
public struct CAFANamespaceResult: Sendable, Hashable, Codable {
    /// Namespace name (cafaeval's `ns` column).
    public var namespace: String
    /// Ground-truth targets in this namespace (cafaeval's `ne`).
    public var targets: Int
    /// Ground-truth targets with at least one prediction line in this namespace.
    public var predictedTargets: Int
    /// Best points per metric (nil members when no row survives the cov > 0 filter).
    public var best: CAFABest
    /// Per-tau curves (rows with cov == 0 dropped, as cafaeval does).
    public var curves: CAFACurves

    /// Creates a namespace result.
    public init(namespace: String, targets: Int, predictedTargets: Int, best: CAFABest, curves: CAFACurves) {
        self.namespace = namespace
        self.targets = targets
        self.predictedTargets = predictedTargets
        self.best = best
        self.curves = curves
    }

    enum CodingKeys: String, CodingKey {
        case namespace, targets, best, curves
        case predictedTargets = "predicted_targets"
    }
}
