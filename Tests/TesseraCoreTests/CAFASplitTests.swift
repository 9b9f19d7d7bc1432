import Testing

@testable import TesseraCore
@testable import TesseraEvaluation

@Test func splitsIntoNKLKPK() throws {
    let ontology = try CAFAOntology(records: [
        CAFATermRecord(id: "P:R", namespace: "bp"),
        CAFATermRecord(id: "P:A", namespace: "bp", parents: [CAFAParentLink(id: "P:R", relation: .isA)]),
        CAFATermRecord(id: "P:B", namespace: "bp", parents: [CAFAParentLink(id: "P:A", relation: .partOf)]),
        CAFATermRecord(id: "P:C", namespace: "bp", parents: [CAFAParentLink(id: "P:R", relation: .isA)]),
        CAFATermRecord(id: "F:R", namespace: "mf"),
        CAFATermRecord(
            id: "F:A", namespace: "mf", parents: [CAFAParentLink(id: "F:R", relation: .isA)], altIds: ["F:OLD"]),
    ])
    let old: [String: [String]] = [
        "pk1": ["P:B"],  // bp known; gains P:C (new) and P:A (already in closure)
        "pk2": ["P:B"],  // gains only ancestors -> not PK
        "lk1": ["F:A"],  // mf only -> LK in bp
        "unk": ["Z:999"],  // unknown term only -> counts as no knowledge
    ]
    let new: [String: [String]] = [
        "pk1": ["P:B", "P:A", "P:C"],
        "pk2": ["P:A", "P:R"],
        "lk1": ["P:A", "F:R"],
        "nk1": ["P:C", "F:OLD"],
        "unk": ["P:R"],
    ]
    let split = CAFAEvaluationSplit(old: old, new: new, ontology: ontology)
    #expect(split.part(.pk, "bp").truth == ["pk1": ["P:C"]])
    #expect(split.part(.lk, "bp").truth == ["lk1": ["P:A"]])
    #expect(split.part(.nk, "bp").truth == ["nk1": ["P:C"], "unk": ["P:R"]])
    #expect(split.part(.nk, "mf").truth == ["nk1": ["F:OLD"]])
    #expect(split.part(.pk, "mf").truth == [:])  // lk1 gains F:R, an ancestor of F:A
    #expect(split.part(.lk, "mf").targets == 0)
    #expect(split.part(.nk, "bp").targets == 2 && split.part(.nk, "bp").annotations == 2)
}
