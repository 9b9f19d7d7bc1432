import Testing

@testable import TesseraCore
@testable import TesseraEvaluation

/// root <- a <- b (is_a), root <- c; one namespace.
func tinyOntology() throws -> CAFAOntology {
    try CAFAOntology(records: [
        CAFATermRecord(id: "R", namespace: "ns"),
        CAFATermRecord(id: "A", namespace: "ns", parents: [CAFAParentLink(id: "R", relation: .isA)]),
        CAFATermRecord(id: "B", namespace: "ns", parents: [CAFAParentLink(id: "A", relation: .isA)], altIds: ["B2"]),
        CAFATermRecord(id: "C", namespace: "ns", parents: [CAFAParentLink(id: "R", relation: .isA)]),
    ])
}

@Test func evaluatesHandComputedCase() throws {
    let evaluator = CAFAEvaluator(ontology: try tinyOntology())
    // t1 truth {B} -> propagated {R, A, B}; t2 truth {C} -> {R, C}.
    // t1 predicts B2 (alt of B) 0.6 and C 0.3 -> propagated R .6, A .6, B .6, C .3.
    let result = evaluator.evaluate(
        truth: ["t1": ["B"], "t2": ["C"]],
        predictions: ["t1": [("B2", 0.6), ("C", 0.3), ("C", 0.1)], "t9": [("A", 0.9)]],
        options: CAFAOptions(thresholdStep: 0.1))
    let ns = try #require(result.namespaces.first)
    #expect(ns.targets == 2 && ns.predictedTargets == 1)
    // Taus 0.1 ... 0.6 survive (cov > 0); tau 0.2: t1 predicts R,A,B,C: tp 3, fp 1; t2 fn 2.
    let i = try #require(ns.curves.tau.firstIndex(of: 0.2))
    #expect(ns.curves.n[i] == 1)
    #expect(ns.curves.pr[i] == 0.75)
    #expect(ns.curves.rc[i] == 0.5)
    #expect(ns.curves.tp[i] == 1.5 && ns.curves.fp[i] == 0.5 && ns.curves.fn[i] == 1)
    #expect(ns.curves.cov[i] == 0.5)
    // numpy's third tau is 0.30000000000000004, so score 0.3 fails it: C drops out, pr 1, rc 0.5.
    #expect(ns.curves.tau[2] == 0.30000000000000004 && ns.curves.pr[2] == 1)
    let best = try #require(ns.best.f)
    #expect(best.tau == 0.30000000000000004 && abs(best.value - 2.0 / 3.0) < 1e-15)
    #expect(ns.curves.tau.last == 0.6)
    #expect(ns.best.fW == nil)
}

@Test func weightedMetricsIgnoreZeroIA() throws {
    let evaluator = CAFAEvaluator(ontology: try tinyOntology())
    let result = evaluator.evaluate(
        truth: ["t1": ["B"]], predictions: ["t1": [("A", 0.5)]],
        informationAccretion: ["R": 0, "A": 1, "B": 3, "C": .infinity], options: CAFAOptions(thresholdStep: 0.5))
    let ns = try #require(result.namespaces.first)
    #expect(ns.curves.rcW == [0.25])
    #expect(ns.curves.prW == [1])
    #expect(ns.curves.fnW == [3])
    #expect(ns.best.sW?.value == 3)
}

/// cafaeval's `-prop fill`: a predicted term keeps its own score; a term not predicted takes the highest of its
/// children's (after theirs). t1 predicts B 0.9 and its parent A 0.2. `max`: A and R take 0.9. `fill`: A keeps 0.2,
/// R takes A's 0.2 (B's 0.9 stops at A).
@Test func fillPropagationKeepsAPredictedTermsOwnScore() throws {
    let evaluator = CAFAEvaluator(ontology: try tinyOntology())
    func precisionAt(_ tau: Double, _ propagation: CAFAPropagation) throws -> Double {
        let result = evaluator.evaluate(
            truth: ["t1": ["C"]], predictions: ["t1": [("B", 0.9), ("A", 0.2)]],
            options: CAFAOptions(thresholdStep: 0.1, propagation: propagation))
        let curves = try #require(result.namespaces.first).curves
        let i = try #require(curves.tau.firstIndex { abs($0 - tau) < 1e-9 })
        return curves.pr[i]
    }
    // Truth {C} propagates to {R, C}. At tau 0.5: max predicts B, A, R (R right: 1/3); fill predicts B alone (0).
    #expect(abs(try precisionAt(0.5, .max) - 1.0 / 3.0) < 1e-15)
    #expect(try precisionAt(0.5, .fill) == 0)
    // At tau 0.2 both predict B, A, R.
    #expect(abs(try precisionAt(0.2, .fill) - 1.0 / 3.0) < 1e-15)
}
