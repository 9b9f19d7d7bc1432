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
        informationAccretion: [String: Double]? = nil, termsOfInterest: [String]? = nil,
        known: [String: [String]]? = nil, options: CAFAOptions = CAFAOptions()
    ) -> CAFAResult {
        evaluate(
            truth: CAFATruthTable(truth), predictions: CAFAPredictionTable(predictions),
            informationAccretion: informationAccretion, termsOfInterest: termsOfInterest,
            known: known.map(CAFATruthTable.init), options: options)
    }

    /// Evaluates ordered truth lines and a compact prediction table.
    ///
    /// `termsOfInterest` (cafaeval-protea `-toi`: term ids, alternative ids standing for their terms) limits the
    /// evaluated terms; `known` (its `-known`: annotation lines like the truth's) excludes each target's known
    /// annotations and their ancestors from that target's evaluation — the partial-knowledge protocol. With
    /// either, targets count as cafaeval-protea counts them (`CAFANamespaceCounter.restrictsTargets`).
    public func evaluate(
        truth: CAFATruthTable, predictions: CAFAPredictionTable,
        informationAccretion: [String: Double]? = nil, termsOfInterest: [String]? = nil, known: CAFATruthTable? = nil,
        options: CAFAOptions = CAFAOptions(), perform: CAFAConcurrentPerform? = nil
    ) -> CAFAResult {
        let graphs = ontology.graphs
        let truthSets = CAFAResolvedTruth(ontology: ontology, truth: truth)
        let knownSets = known.map { CAFAResolvedTruth(ontology: ontology, truth: $0) }
        let chosen = termsOfInterest.map { terms in
            var masks = graphs.map { [Bool](repeating: false, count: $0.count) }
            for term in terms {
                guard let (n, indexes) = ontology.resolveTruthTerm(term) else { continue }
                for i in indexes { masks[n][Int(i)] = true }
            }
            return masks
        }
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
            var counter = CAFANamespaceCounter(
                graph: g, taus: taus, targetCount: truthSets.targets[n].count,
                truthOffsets: truthSets.offsets[n], truthTerms: truthSets.terms[n],
                predOffsets: grouped.offsets[n], predTerms: grouped.terms[n], predScores: grouped.scores[n],
                ia: ia, includeOrphans: options.includeOrphans, propagation: options.propagation,
                maxTerms: options.maxTerms)
            counter.termsOfInterest = chosen?[n]
            if let knownSets {
                // Each truth target's known terms, in the truth's target order.
                var offsets: [Int32] = [0]
                var terms: [Int32] = []
                for target in truthSets.targets[n] {
                    if let k = knownSets.lookup[n][target] {
                        let range = Int(knownSets.offsets[n][Int(k)])..<Int(knownSets.offsets[n][Int(k) + 1])
                        terms.append(contentsOf: knownSets.terms[n][range])
                    }
                    offsets.append(Int32(terms.count))
                }
                counter.knownOffsets = offsets
                counter.knownTerms = terms
            }
            let counted = counter.run()
            let result = CAFANamespaceResultBuilder.build(
                namespace: g.namespace, targets: counted.targets, weightedTargets: counted.weightedTargets,
                predictedTargets: grouped.predictedTargets[n], taus: taus, sums: counted.sums,
                weightedSums: counted.weighted, normalization: options.normalization)
            box.set(w, result)
        }
        if let perform, work.count > 1 {
            perform(work.count, job)
        } else if options.threads > 1 && work.count > 1 {
            DispatchQueue.concurrentPerform(iterations: work.count, execute: job)
        } else {
            for w in work.indices { job(w) }
        }
        return CAFAResult(namespaces: box.values())
    }
}

/// Runs a body for each of `0..<count`, every one exactly once, returning when all have ended: how the namespaces
/// of one evaluation share threads when the caller says whose (the gateway's heavy-work threads).
public typealias CAFAConcurrentPerform = @Sendable (_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> Void

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
