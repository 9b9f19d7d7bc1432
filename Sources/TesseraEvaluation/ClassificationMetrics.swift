import Foundation
import TesseraCore

/// Precision, recall, F1 and support of one label (scikit-learn's `precision_recall_fscore_support`, zero_division=0).
public struct LabelScores: Codable, Sendable, Equatable {
    public let label: String
    public let precision: Double
    public let recall: Double
    public let f1: Double
    public let support: Int
}

/// An average of precision, recall and F1 over the labels (scikit-learn's `average=` macro, micro or weighted).
public struct AveragedScores: Codable, Sendable, Equatable {
    public let precision: Double
    public let recall: Double
    public let f1: Double
}

/// Single-label classification metrics computed the way scikit-learn computes them.
///
/// A sample whose prediction is nil (failed, missing, or no label could be extracted) is wrong: it lowers
/// accuracy and its true label's recall, and it is in no label's predictions (scikit-learn with a sentinel
/// prediction and `labels=` every real label). The label set is the sorted union of true and predicted labels.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    public let samples: Int
    public let accuracy: Double
    public let labels: [LabelScores]
    public let macro: AveragedScores
    public let micro: AveragedScores
    public let weighted: AveragedScores
    /// `confusionMatrix[i][j]`: samples of true label `labels[i]` predicted as `labels[j]`.
    public let confusionMatrix: [[Int]]
    /// Samples of each true label (in `labels` order) without a prediction.
    public let unanswered: [Int]

    enum CodingKeys: String, CodingKey {
        case samples, accuracy, labels, macro, micro, weighted
        case confusionMatrix = "confusion_matrix"
        case unanswered
    }

    /// More distinct labels than an evaluation reports on (its confusion matrix grows with their square).
    public struct TooManyLabels: Error, CustomStringConvertible {
        public let count: Int
        public var description: String {
            "the labels take \(count) distinct values (at most \(ClassificationMetrics.maxLabels)): normalise the outputs (extract, label_map)"
        }
    }

    public static let maxLabels = 1_000

    public init(truth: [String], predicted: [String?]) throws {
        precondition(truth.count == predicted.count, "one prediction per true label")
        let names = Set(truth).union(predicted.compactMap { $0 }).sorted()
        guard names.count <= Self.maxLabels else { throw TooManyLabels(count: names.count) }
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var matrix = Array(repeating: Array(repeating: 0, count: names.count), count: names.count)
        var unanswered = Array(repeating: 0, count: names.count)
        var correct = 0
        for (t, p) in zip(truth, predicted) {
            let i = index[t]!
            if let p {
                matrix[i][index[p]!] += 1
                if p == t { correct += 1 }
            } else {
                unanswered[i] += 1
            }
        }
        let tp = names.indices.map { matrix[$0][$0] }
        let predictedCount = names.indices.map { j in matrix.reduce(0) { $0 + $1[j] } }
        let support = names.indices.map { matrix[$0].reduce(0, +) + unanswered[$0] }

        var scores: [LabelScores] = []
        for k in names.indices {
            scores.append(
                LabelScores(
                    label: names[k], precision: Self.divide(tp[k], predictedCount[k]),
                    recall: Self.divide(tp[k], support[k]),
                    f1: Self.f1(tp: tp[k], predicted: predictedCount[k], support: support[k]), support: support[k]))
        }
        let (tpSum, predictedSum, supportSum) = (tp.reduce(0, +), predictedCount.reduce(0, +), support.reduce(0, +))

        self.samples = truth.count
        self.accuracy = truth.isEmpty ? 0 : Double(correct) / Double(truth.count)
        self.labels = scores
        self.macro = AveragedScores(
            precision: Self.mean(scores.map(\.precision)), recall: Self.mean(scores.map(\.recall)),
            f1: Self.mean(scores.map(\.f1)))
        self.micro = AveragedScores(
            precision: Self.divide(tpSum, predictedSum), recall: Self.divide(tpSum, supportSum),
            f1: Self.f1(tp: tpSum, predicted: predictedSum, support: supportSum))
        let weights = support.map(Double.init)
        self.weighted = AveragedScores(
            precision: Self.mean(scores.map(\.precision), weights: weights),
            recall: Self.mean(scores.map(\.recall), weights: weights),
            f1: Self.mean(scores.map(\.f1), weights: weights))
        self.confusionMatrix = matrix
        self.unanswered = unanswered
    }

    static func divide(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }

    /// scikit-learn's F-beta with beta 1: 2·tp / (true + predicted), 0 when both are 0.
    static func f1(tp: Int, predicted: Int, support: Int) -> Double {
        let denominator = Double(support) + Double(predicted)
        return denominator == 0 ? 0 : 2 * Double(tp) / denominator
    }

    static func mean(_ values: [Double], weights: [Double]? = nil) -> Double {
        guard !values.isEmpty else { return 0 }
        guard let weights else { return values.reduce(0, +) / Double(values.count) }
        let total = weights.reduce(0, +)
        guard total > 0 else { return 0 }
        return zip(values, weights).reduce(0) { $0 + $1.0 * $1.1 } / total
    }
}

/// Mean and percentiles (linear interpolation between closest ranks, NumPy's default) of latencies in seconds.
public struct LatencySummary: Codable, Sendable, Equatable {
    public let count: Int
    public let mean: Double?
    public let p50: Double?
    public let p95: Double?
    public let p99: Double?

    public init(_ seconds: [Double]) {
        let sorted = seconds.sorted()
        count = sorted.count
        mean = sorted.isEmpty ? nil : sorted.reduce(0, +) / Double(sorted.count)
        p50 = Self.percentile(sorted, 50)
        p95 = Self.percentile(sorted, 95)
        p99 = Self.percentile(sorted, 99)
    }

    static func percentile(_ sorted: [Double], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let position = q / 100 * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let (a, b) = (sorted[lower], sorted[min(lower + 1, sorted.count - 1)])
        let t = position - Double(lower)
        // NumPy's lerp: from the nearer end, so that t = 1 gives b exactly.
        return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t
    }
}
