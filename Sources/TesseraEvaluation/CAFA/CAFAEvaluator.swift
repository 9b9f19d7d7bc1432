import Dispatch
import Foundation
import TesseraCore

/// Evaluates predictions against a ground truth exactly as cafaeval 1.3.0 (`-prop max` or `fill`), sparsely.
public struct CAFAEvaluator: Sendable {
    /// The ontology the evaluation runs on.
    public let ontology: CAFAOntology

    /// Creates an evaluator for an ontology.
    public init(ontology: CAFAOntology) { self.ontology = ontology }

    /// Evaluates dictionary inputs (targets sorted for a deterministic summation order).
    public func evaluate(
        truth: [String: [String]], predictions: [String: [(term: String, score: Double)]],
        informationAccretion: [String: Double]? = nil, options: CAFAOptions = CAFAOptions()
    ) -> CAFAResult {
        evaluate(
            truth: CAFATruthTable(truth), predictions: CAFAPredictionTable(predictions),
            informationAccretion: informationAccretion, options: options)
    }

    /// Evaluates ordered truth lines and a compact prediction table.
    public func evaluate(
        truth: CAFATruthTable, predictions: CAFAPredictionTable,
        informationAccretion: [String: Double]? = nil, options: CAFAOptions = CAFAOptions()
    ) -> CAFAResult {
        let graphs = ontology.graphs
        let truthSets = CAFAResolvedTruth(ontology: ontology, truth: truth)
        let grouped = CAFAGroupedPredictions(ontology: ontology, truth: truthSets, predictions: predictions)
        let taus = CAFATauGrid(step: options.thresholdStep)
        let work = graphs.indices.filter { grouped.predictedTargets[$0] > 0 }

        let box = ResultBox(count: work.count)
        let job: @Sendable (Int) -> Void = { w in
            let n = work[w]
            let g = graphs[n]
            let ia = informationAccretion.map { map in
                g.termIDs.map { id -> Double in
                    guard let v = map[id], v != 0, v.isFinite else { return 0 }
                    return v
                }
            }
            let counter = CAFANamespaceCounter(
                graph: g, taus: taus, targetCount: truthSets.targets[n].count,
                truthOffsets: truthSets.offsets[n], truthTerms: truthSets.terms[n],
                predOffsets: grouped.offsets[n], predTerms: grouped.terms[n], predScores: grouped.scores[n],
                ia: ia, includeOrphans: options.includeOrphans, propagation: options.propagation)
            let (sums, wsums) = counter.run()
            let result = CAFANamespaceResultBuilder.build(
                namespace: g.namespace, targets: truthSets.targets[n].count,
                predictedTargets: grouped.predictedTargets[n], taus: taus, sums: sums, weightedSums: wsums,
                normalization: options.normalization)
            box.set(w, result)
        }
        if options.threads > 1 && work.count > 1 {
            DispatchQueue.concurrentPerform(iterations: work.count, execute: job)
        } else {
            for w in work.indices { job(w) }
        }
        return CAFAResult(namespaces: box.values())
    }
}

/// A lock-protected slot array collecting per-namespace results from worker threads.
final class ResultBox: @unchecked Sendable {
    private var slots: [CAFANamespaceResult?]
    private let lock = NSLock()

    /// Creates `count` empty slots.
    init(count: Int) { slots = Array(repeating: nil, count: count) }

    /// Stores the result of slot `i`.
    func set(_ i: Int, _ value: CAFANamespaceResult) {
        lock.lock()
        slots[i] = value
        lock.unlock()
    }

    /// All filled slots in order.
    func values() -> [CAFANamespaceResult] {
        lock.lock()
        defer { lock.unlock() }
        return slots.compactMap { $0 }
    }
}
