import Testing

@testable import TesseraCore
@testable import TesseraEvaluation

@Test func buildsNamespacesWithCafaevalRules() throws {
    let ontology = try CAFAOntology(document: OBOParser.parse(sampleOBO))
    #expect(ontology.namespaces == ["biological_process", "molecular_function"])
    let bp = try #require(ontology.graph("biological_process"))
    #expect(bp.termIDs == ["GO:0000001", "GO:0000002", "GO:0000003"])
    #expect(bp.altIndex["GO:0000902"] == [1])
    let mf = try #require(ontology.graph("molecular_function"))
    #expect(mf.count == 1)
    #expect(!mf.hasParent(0))  // cross-namespace part_of dropped
    #expect(ontology.namespace(of: "GO:0000004") == nil)  // obsolete dropped
}

@Test func ancestorsFollowIsAAndPartOf() throws {
    let ontology = try CAFAOntology(document: OBOParser.parse(sampleOBO))
    #expect(ontology.ancestors(of: "GO:0000003") == ["GO:0000001", "GO:0000002"])
    #expect(ontology.ancestors(of: "GO:0000902", includingSelf: true) == ["GO:0000001", "GO:0000002"])
    #expect(ontology.ancestors(of: "GO:0000001").isEmpty)
    #expect(ontology.ancestors(of: "GO:0000005").isEmpty)
}

@Test func recordsInitializerDropsExternalAndSharesAltIDs() throws {
    let records = [
        CAFATermRecord(id: "X:1", namespace: "ns"),
        CAFATermRecord(
            id: "X:2", namespace: "ns", parents: [CAFAParentLink(id: "X:1", relation: .isA)], altIds: ["X:9"]),
        CAFATermRecord(
            id: "X:3", namespace: "ns", parents: [CAFAParentLink(id: "X:2", relation: .partOf)], altIds: ["X:9"]),
        CAFATermRecord(id: "X:4", namespace: "external"),
        CAFATermRecord(id: "X:5", namespace: nil),
    ]
    let ontology = try CAFAOntology(records: records)
    #expect(ontology.namespaces == ["ns"])
    #expect(ontology.graph("ns")?.altIndex["X:9"] == [1, 2])
    #expect(ontology.ancestors(of: "X:3") == ["X:1", "X:2"])
}

@Test func cycleThrows() {
    let records = [
        CAFATermRecord(id: "C:1", namespace: "ns", parents: [CAFAParentLink(id: "C:2", relation: .isA)]),
        CAFATermRecord(id: "C:2", namespace: "ns", parents: [CAFAParentLink(id: "C:1", relation: .partOf)]),
    ]
    #expect(throws: CAFAOntologyError.cycle(namespace: "ns")) { try CAFAOntology(records: records) }
}

@Test func tauGridMatchesNumpyArange() {
    let t = CAFATauGrid(step: 0.01).values
    #expect(t.count == 99)
    #expect(t[2] == 0.03)
    #expect(t[5] == 0.060000000000000005)
    #expect(t[6] == 0.06999999999999999)
    #expect(t[28] == 0.29000000000000004)
    #expect(t[56] == 0.5700000000000001)
    #expect(t[98] == 0.99)
    let f = CAFATauGrid(step: 0.05).values
    #expect(f.count == 19)
    #expect(f[2] == 0.15000000000000002)
    #expect(f[18] == 0.9500000000000001)
    #expect(CAFATauGrid(step: 0.3).values == [0.3, 0.6, 0.8999999999999999])
    #expect(CAFATauGrid(step: 0.01).passCount(0.06999999999999999) == 7)
    #expect(CAFATauGrid(step: 0.01).passCount(0.005) == 0)
}
