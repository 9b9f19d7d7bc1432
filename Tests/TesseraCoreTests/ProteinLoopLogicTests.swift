import Testing

@testable import TesseraEvaluation

@Suite struct ProteinLoopLogicTests {
    @Test func fastaRecordsTheirAccessionsAndResidues() throws {
        let text =
            ">sp|P1|A_HUMAN first\u{0}protein\nmkta yiak\r\nQR*\n\n; a comment\n>P2\nGGG\n>sp|P1|A_HUMAN again\nMKTAYIAKQR\n"
        let entries = try FASTA.parse(Array(text.utf8))
        #expect(
            entries == [
                FASTAEntry(accession: "sp|P1|A_HUMAN", description: "first protein", residues: "MKTAYIAKQR"),
                FASTAEntry(accession: "P2", residues: "GGG"),
            ])
    }

    @Test func fastaRefusesWhatIsNotAProtein() {
        func problem(_ text: String) -> FASTAProblem? {
            do {
                _ = try FASTA.parse(Array(text.utf8))
                return nil
            } catch { return error }
        }
        #expect(problem("MKT\n>P1\nMKT\n") == FASTAProblem(line: 1, message: "residues before the first '>' header"))
        #expect(problem(">P1\n>P2\nMK\n") == FASTAProblem(line: 1, message: "P1 has no residues"))
        #expect(problem(">P1\nMK1T\n") == FASTAProblem(line: 2, message: "P1: '1' is not a residue"))
        #expect(problem(">P1\nMK*T\n") == FASTAProblem(line: 2, message: "P1: residues after a '*' stop"))
        #expect(
            problem(">P1\nMK\n>P1\nMA\n")
                == FASTAProblem(line: 3, message: "P1 comes again (line 1) with other residues"))
        #expect(problem("> \nMK\n") == FASTAProblem(line: 1, message: "a header without an accession"))
    }

    @Test func kmerCompositionCountsStandardWindowsAndHasUnitLength() throws {
        let k2 = try #require(KmerComposition(k: 2))
        #expect(k2.dimension == 400 && KmerComposition(k: 4) == nil && KmerComposition(k: 0) == nil)
        // "ACAXC": windows AC, CA (CA then X breaks the run; XC skipped): AC = 0*20+1, CA = 1*20+0.
        let v = k2.vector(Array("ACAXC".utf8))
        #expect(v[1] == v[20] && abs(v[1] - 1 / Float(2).squareRoot()) < 1e-7)
        #expect(v.enumerated().filter { $0.element != 0 }.map(\.offset) == [1, 20])
        // A window counted twice weighs twice: AAA has AA twice.
        let w = k2.vector(Array("AAAC".utf8))
        #expect(abs(w[0] - 2 / Float(5).squareRoot()) < 1e-7 && abs(w[1] - 1 / Float(5).squareRoot()) < 1e-7)
        #expect(k2.vector(Array("XXXX".utf8)).allSatisfy { $0 == 0 })
    }

    /// Every reference measured one by one, in Double: each query's distances to all references, row by row.
    static func distances(_ queries: [[Float]], _ references: [[Float]], metric: VectorMetric) -> [[Double]] {
        func unit(_ v: [Float]) -> [Double] {
            let n = v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            return v.map { n > 0 ? Double($0) / n : 0 }
        }
        return queries.map { q in
            references.map { r in
                switch metric {
                case .cosine: 1 - zip(unit(q), unit(r)).reduce(0) { $0 + $1.0 * $1.1 }
                case .l2:
                    zip(q, r).reduce(0) { $0 + (Double($1.0) - Double($1.1)) * (Double($1.0) - Double($1.1)) }
                        .squareRoot()
                }
            }
        }
    }

    @Test(arguments: [VectorMetric.cosine, .l2], [3, 16, 37])
    func exactSearchFindsWhatBruteForceFinds(metric: VectorMetric, dimension: Int) {
        var generator = SplitMix(seed: UInt64(dimension))
        func vector() -> [Float] { (0..<dimension).map { _ in Float(generator.next() % 2001) / 1000 - 1 } }
        let references = (0..<301).map { _ in vector() }  // not a multiple of any block
        let queries = (0..<67).map { _ in vector() }
        var referenceRows = VectorRows(dimension: dimension)
        for r in references { referenceRows.append(r) }
        var queryRows = VectorRows(dimension: dimension)
        for q in queries { queryRows.append(q) }
        let search = ExactNeighbourSearch(references: referenceRows, metric: metric)
        let exact = Self.distances(queries, references, metric: metric)
        for threads in [1, 2] {
            let found = search.search(queryRows, k: 7, threads: threads)
            // The rows found are the 7 nearest: their exact distances are the 7 smallest (float32 rounding can swap
            // two rows a millionth apart, never a farther one in), and the distances reported are theirs.
            for (q, neighbours) in found.enumerated() {
                let best = exact[q].sorted().prefix(7)
                #expect(neighbours.count == 7)
                for (n, expected) in zip(neighbours, best) {
                    #expect(abs(exact[q][n.row] - expected) < 1e-5 && abs(Double(n.distance) - expected) < 1e-4)
                }
            }
            #expect(found.allSatisfy { zip($0, $0.dropFirst()).allSatisfy { $0.distance <= $1.distance } })
            #expect(
                found.map { $0.map(\.row) }
                    == search.search(queryRows, k: 7, threads: 3 - threads).map { $0.map(\.row) })
        }
        // k beyond the references: all of them; a cut-off keeps only those within it.
        #expect(search.search(queryRows, k: 500).allSatisfy { $0.count == 301 })
        let near = search.search(queryRows, k: 7, maxDistance: 0)
        #expect(near.allSatisfy { $0.isEmpty })
    }

    @Test func transferVotesWithSimilarityAndEvidence() {
        let transfer = GOTransfer(evidenceWeights: ["IEA": 0.5], defaultWeight: 1)
        let scores = transfer.scores([
            .init(
                similarity: 0.9,
                annotations: [.init(term: "F:4", evidence: "IDA"), .init(term: "F:3", evidence: "IEA")]),
            .init(
                similarity: 0.6,
                annotations: [.init(term: "F:4", evidence: "IEA"), .init(term: "F:4", evidence: "EXP")]),
            .init(similarity: 0.5, annotations: [.init(term: "F:5", evidence: "IEA")]),
        ])
        // Total similarity 2.0. F:4: 0.9·1 + 0.6·1 (EXP beats IEA) = 1.5; F:3: 0.9·0.5; F:5: 0.5·0.5.
        #expect(scores.map(\.term) == ["F:4", "F:3", "F:5"])
        #expect(scores.map(\.score) == [0.75, 0.225, 0.125])
        #expect(GOTransfer().scores([.init(similarity: 0, annotations: [.init(term: "F:1")])]).isEmpty)
        let vetoed = GOTransfer(evidenceWeights: ["IEA": 0]).scores([
            .init(similarity: 1, annotations: [.init(term: "F:1", evidence: "IEA")])
        ])
        #expect(vetoed.isEmpty)
    }
}

/// A small deterministic generator (the tests' vectors are the same on every run).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
