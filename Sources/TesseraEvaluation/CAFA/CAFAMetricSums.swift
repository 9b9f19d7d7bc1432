import TesseraCore

/// Raw per-tau sums over targets (cafaeval's `compute_confusion_matrix` columns before normalization).
struct CAFAMetricSums: Sendable {
    /// Targets with at least one predicted term at tau.
    var n: [Double]
    /// Summed true positives, false positives and false negatives (counts or IA weights).
    var tp: [Double], fp: [Double], fn: [Double]
    /// Summed per-target precision and recall.
    var pr: [Double], rc: [Double]

    /// Zero sums for `count` thresholds.
    init(count: Int) {
        n = [Double](repeating: 0, count: count)
        tp = n
        fp = n
        fn = n
        pr = n
        rc = n
    }
}
