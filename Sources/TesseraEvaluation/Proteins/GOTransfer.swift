/// Nearest-neighbour transfer of GO terms (PROTEA's `predict_go_terms` with an evidence-weighted scoring
/// configuration): a query's neighbours each vote for the terms they are annotated with, with their similarity
/// times the weight of the annotation's evidence code (the highest, when a neighbour has a term by several codes);
/// a term's score is its votes over the sum of all neighbours' similarities, so it lies in [0, 1] and is 1 only
/// when every neighbour has the term by fully trusted evidence. Terms are transferred as annotated: the evaluation
/// propagates them up the ontology itself.
public struct GOTransfer: Sendable {
    /// Evidence code → weight in [0, 1]; codes absent (and annotations without a code) weigh `defaultWeight`.
    public let evidenceWeights: [String: Double]
    public let defaultWeight: Double

    public struct Annotation: Sendable, Equatable {
        public let term: String
        public let evidence: String?

        public init(term: String, evidence: String? = nil) {
            (self.term, self.evidence) = (term, evidence)
        }
    }

    public struct Vote: Sendable {
        public let similarity: Double
        public let annotations: [Annotation]

        public init(similarity: Double, annotations: [Annotation]) {
            (self.similarity, self.annotations) = (similarity, annotations)
        }
    }

    public init(evidenceWeights: [String: Double] = [:], defaultWeight: Double = 1) {
        (self.evidenceWeights, self.defaultWeight) = (evidenceWeights, defaultWeight)
    }

    func weight(_ evidence: String?) -> Double {
        evidence.flatMap { evidenceWeights[$0] } ?? defaultWeight
    }

    /// The query's scored terms, highest first (ties by term); terms scoring 0 are left out.
    public func scores(_ votes: [Vote]) -> [(term: String, score: Double)] {
        let total = votes.reduce(0) { $0 + $1.similarity }
        guard total > 0 else { return [] }
        var sums: [String: Double] = [:]
        for vote in votes where vote.similarity > 0 {
            var best: [String: Double] = [:]
            for annotation in vote.annotations {
                let w = weight(annotation.evidence)
                if w > best[annotation.term, default: -1] { best[annotation.term] = w }
            }
            for (term, w) in best where w > 0 { sums[term, default: 0] += vote.similarity * w }
        }
        return sums.map { (term: $0.key, score: min(1, $0.value / total)) }
            .filter { $0.score > 0 }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.term < $1.term }
    }
}
