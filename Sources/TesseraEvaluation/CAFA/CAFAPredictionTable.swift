import TesseraCore

/// A compact, interned table of prediction lines `target term score` (file order preserved).
public struct CAFAPredictionTable: Sendable {
    /// Distinct target identifiers.
    public private(set) var targetIDs: [String] = []
    /// Distinct raw term identifiers.
    public private(set) var termIDs: [String] = []
    /// Per line: index into `targetIDs`.
    public private(set) var targetOfRow: [Int32] = []
    /// Per line: index into `termIDs`.
    public private(set) var termOfRow: [Int32] = []
    /// Per line: the score.
    public private(set) var scores: [Double] = []
    private var targetLookup: [String: Int32] = [:]
    private var termLookup: [String: Int32] = [:]

    /// Creates an empty table, optionally reserving room for `capacity` lines.
    public init(capacity: Int = 0) {
        targetOfRow.reserveCapacity(capacity)
        termOfRow.reserveCapacity(capacity)
        scores.reserveCapacity(capacity)
    }

    /// Creates a table from a target → (term, score) map (targets sorted for determinism).
    public init(_ predictions: [String: [(term: String, score: Double)]]) {
        self.init(capacity: predictions.values.reduce(0) { $0 + $1.count })
        for target in predictions.keys.sorted() {
            for p in predictions[target] ?? [] { append(target: target, term: p.term, score: p.score) }
        }
    }

    /// Number of lines.
    public var count: Int { scores.count }

    /// Appends one prediction line.
    public mutating func append(target: String, term: String, score: Double) {
        let t = index(ofTarget: target)
        append(target: t, term: term, score: score)
    }

    /// Appends a target's lines (terms and scores pairwise), the target looked up once.
    public mutating func append(target: String, terms: [String], scores: [Double]) {
        precondition(terms.count == scores.count)
        let t = index(ofTarget: target)
        for (term, score) in zip(terms, scores) { append(target: t, term: term, score: score) }
    }

    mutating func index(ofTarget target: String) -> Int32 {
        if let existing = targetLookup[target] { return existing }
        let t = Int32(targetIDs.count)
        targetLookup[target] = t
        targetIDs.append(target)
        return t
    }

    mutating func append(target t: Int32, term: String, score: Double) {
        let g: Int32
        if let existing = termLookup[term] {
            g = existing
        } else {
            g = Int32(termIDs.count)
            termLookup[term] = g
            termIDs.append(term)
        }
        targetOfRow.append(t)
        termOfRow.append(g)
        scores.append(score)
    }
}
