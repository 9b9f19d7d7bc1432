import Foundation
import Synchronization
import TesseraCore

/// How a run evaluation turns outputs and expectations into labels; stored with the evaluation so it can be
/// reproduced.
public struct LabelNormalization: Codable, Sendable, Equatable {
    /// Remove white space at both ends.
    public var trim: Bool
    /// Compare labels case-insensitively (Unicode case folding).
    public var caseFold: Bool
    /// Remove Unicode punctuation and symbol characters.
    public var stripPunctuation: Bool
    /// A regular expression (RE2 syntax, run in linear time) applied to the output: its first capture group (or the
    /// whole match) is the label; an output it does not match has no label.
    public var extract: String?
    /// Labels renamed after the other steps (keys are normalised the same way), on both sides.
    public var labelMap: [String: String]
    /// Leave failed, missing and unparsable predictions out instead of counting them as wrong.
    public var excludeFailed: Bool

    enum CodingKeys: String, CodingKey {
        case trim
        case caseFold = "case_fold"
        case stripPunctuation = "strip_punctuation"
        case extract
        case labelMap = "label_map"
        case excludeFailed = "exclude_failed"
    }

    public init(
        trim: Bool = true, caseFold: Bool = false, stripPunctuation: Bool = false, extract: String? = nil,
        labelMap: [String: String] = [:], excludeFailed: Bool = false
    ) {
        self.trim = trim
        self.caseFold = caseFold
        self.stripPunctuation = stripPunctuation
        self.extract = extract
        self.labelMap = labelMap
        self.excludeFailed = excludeFailed
    }
}

/// Applies a `LabelNormalization` to expected labels and to model outputs.
public struct LabelNormalizer: Sendable {
    public let options: LabelNormalization
    let pattern: LinearPattern?
    let map: [String: String]

    public struct InvalidPattern: Error, CustomStringConvertible {
        public let description: String
    }

    public init(_ options: LabelNormalization) throws {
        self.options = options
        if let extract = options.extract {
            guard (1...500).contains(extract.count) else {
                throw InvalidPattern(description: "extract is 1–500 characters")
            }
            do {
                pattern = try LinearPattern(extract)
            } catch {
                throw InvalidPattern(description: "extract is not a valid RE2 regular expression (\(error))")
            }
        } else {
            pattern = nil
        }
        var map: [String: String] = [:]
        for (key, value) in options.labelMap { map[Self.clean(key, options)] = value }
        self.map = map
    }

    /// The label of an expected prediction.
    public func truth(_ text: String) -> String {
        let cleaned = Self.clean(text, options)
        return map[cleaned] ?? cleaned
    }

    /// The label of a model output; nil when the pattern finds none or nothing is left.
    public func prediction(_ output: String) -> String? {
        var text = output
        if let pattern {
            guard let found = pattern.firstMatch(in: text) else { return nil }
            text = String(found)
        }
        let cleaned = Self.clean(text, options)
        guard !cleaned.isEmpty else { return nil }
        return map[cleaned] ?? cleaned
    }

    static let punctuationAndSymbols = CharacterSet.punctuationCharacters.union(.symbols)

    static func clean(_ text: String, _ options: LabelNormalization) -> String {
        var text = text
        if options.stripPunctuation {
            text = String(String.UnicodeScalarView(text.unicodeScalars.filter { !punctuationAndSymbols.contains($0) }))
        }
        if options.trim { text = text.trimmingCharacters(in: .whitespacesAndNewlines) }
        if options.caseFold { text = text.folding(options: .caseInsensitive, locale: nil) }
        return text
    }
}

/// One dataset row's expectation and what the run answered for it.
public struct EvaluatedRow: Sendable {
    public let expected: String
    /// nil when the run has no prediction for the row yet.
    public let succeeded: Bool?
    public let output: String?
    public let latencySeconds: Double?

    public init(expected: String, succeeded: Bool?, output: String?, latencySeconds: Double?) {
        self.expected = expected
        self.succeeded = succeeded
        self.output = output
        self.latencySeconds = latencySeconds
    }
}

/// A run's evaluation: how many rows were answered, the classification metrics and the latencies.
public struct RunMetrics: Codable, Sendable, Equatable {
    /// Rows of the dataset with an expected prediction.
    public let rows: Int
    public let succeeded: Int
    public let failed: Int
    /// Rows the run has no prediction for (yet).
    public let missing: Int
    /// Succeeded predictions from which no label could be taken.
    public let unparsed: Int
    /// Succeeded predictions / rows.
    public let coverage: Double
    /// Failed predictions / rows.
    public let failureRate: Double
    public let classification: ClassificationMetrics
    public let latency: LatencySummary

    enum CodingKeys: String, CodingKey {
        case rows, succeeded, failed, missing, unparsed, coverage
        case failureRate = "failure_rate"
        case classification, latency
    }

    public init(rows evaluated: [EvaluatedRow], normalizer: LabelNormalizer) throws {
        var tally = Tally(normalizer)
        tally.add(evaluated)
        try self.init(tally)
    }

    /// The metrics of every row added to `tally`.
    public init(_ tally: Tally) throws {
        rows = tally.rows
        succeeded = tally.succeeded
        failed = tally.failed
        missing = tally.missing
        unparsed = tally.unparsed
        coverage = rows == 0 ? 0 : Double(succeeded) / Double(rows)
        failureRate = rows == 0 ? 0 : Double(failed) / Double(rows)
        classification = try ClassificationMetrics(truth: tally.truth, predicted: tally.predicted)
        latency = LatencySummary(tally.latencies)
    }

    /// What a run's rows come to, added as they arrive: each row's output is normalised into its label at once
    /// and not kept, so a run is evaluated holding its labels and latencies, never every output.
    public struct Tally: Sendable {
        let normalizer: LabelNormalizer
        var truth: [String] = []
        var predicted: [String?] = []
        var latencies: [Double] = []
        var rows = 0
        var succeeded = 0
        var failed = 0
        var missing = 0
        var unparsed = 0

        public init(_ normalizer: LabelNormalizer) {
            self.normalizer = normalizer
        }

        public mutating func add(_ batch: [EvaluatedRow]) {
            rows += batch.count
            for row in batch {
                var label: String?
                switch row.succeeded {
                case nil: missing += 1
                case false?: failed += 1
                case true?:
                    succeeded += 1
                    label = row.output.flatMap(normalizer.prediction)
                    if label == nil { unparsed += 1 }
                }
                if row.succeeded != nil, let latency = row.latencySeconds { latencies.append(latency) }
                if label == nil && normalizer.options.excludeFailed { continue }
                truth.append(normalizer.truth(row.expected))
                predicted.append(label)
            }
        }
    }
}

/// A `RunMetrics.Tally` shared between the task reading a run's rows and the threads normalising them: batches
/// are added in place, one at a time.
public final class RunTally: Sendable {
    private let tally: Mutex<RunMetrics.Tally>

    public init(_ normalizer: LabelNormalizer) {
        tally = Mutex(RunMetrics.Tally(normalizer))
    }

    public func add(_ batch: [EvaluatedRow]) {
        tally.withLock { $0.add(batch) }
    }

    public func metrics() throws -> RunMetrics {
        try tally.withLock { try RunMetrics($0) }
    }
}
