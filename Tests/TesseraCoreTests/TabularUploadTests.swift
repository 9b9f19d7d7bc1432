import Foundation
import Testing

@testable import TesseraCore
@testable import TesseraEvaluation

@Suite struct TabularUploadTests {
    static func lines(_ chunks: [String]) -> [(String, Int)] {
        var splitter = LineSplitter()
        var seen: [(String, Int)] = []
        for chunk in chunks {
            splitter.feed(ArraySlice(chunk.utf8)) { seen.append((String(decoding: $0, as: UTF8.self), $1)) }
        }
        splitter.finish { seen.append((String(decoding: $0, as: UTF8.self), $1)) }
        return seen
    }

    @Test func linesAreWholeHoweverTheChunksCutThem() {
        let text = "a\tb\r\nccc dd\n\nlast"
        let whole = Self.lines([text])
        #expect(whole.map(\.0) == ["a\tb", "ccc dd", "", "last"] && whole.map(\.1) == [1, 2, 3, 4])
        for cut in 1..<text.utf8.count {
            let bytes = Array(text.utf8)
            let pieces = [
                String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self),
            ]
            #expect(Self.lines(pieces).map(\.0) == whole.map(\.0), "cut at \(cut)")
        }
    }

    @Test func fieldsSplitOnSpacesAndTabsAndCommentsHaveNone() {
        #expect(LineSplitter.fields(ArraySlice(" P1\t GO:1  0.5 ".utf8)) == ["P1", "GO:1", "0.5"])
        #expect(
            LineSplitter.fields(ArraySlice("# header".utf8)).isEmpty
                && LineSplitter.fields(ArraySlice("! gaf".utf8)).isEmpty)
    }

    /// `tessera cafaeval`'s reading of a prediction file: every line in order (a target coming back keeps its
    /// index), comments and a submission's header lines skipped, a bad line refused by its number — and the same
    /// evaluation as the upload's grouped, deduplicated form of the same lines.
    @Test func aPredictionFileIsReadLineByLineAsTheUploadChecksIt() throws {
        let text = "AUTHOR me\nMODEL 1\n# note\nP1 T:0002 0.5\nP1 T:0004 0.25\nP2 T:0002 0.75\nP1 T:0002 0.9\nEND\n"
        let read = try CAFAFiles.predictions(Array(text.utf8))
        #expect(read.lines == 4)
        #expect(read.table.targetIDs == ["P1", "P2"] && read.table.termIDs == ["T:0002", "T:0004"])
        #expect(read.table.targetOfRow == [0, 0, 1, 0] && read.table.scores == [0.5, 0.25, 0.75, 0.9])
        #expect(throws: UploadProblem(line: 2, "the score '0' is not a number in (0, 1]")) {
            try CAFAFiles.predictions(Array("P1 T:0002 0.5\nP1 T:0004 0\n".utf8))
        }
        #expect(throws: UploadProblem(line: 1, "expected target, term and score; found 2 fields")) {
            try CAFAFiles.predictions(Array("P1 T:0002\n".utf8))
        }
        var upload = PredictionUpload(known: { _ in true })
        for (number, line) in text.split(separator: "\n").enumerated() {
            try upload.add(ArraySlice(line.utf8), number: number + 1)
        }
        var grouped = CAFAPredictionTable()
        for (target, scores) in upload.byTarget.sorted(by: { $0.key < $1.key }) {
            grouped.append(target: target, terms: scores.terms, scores: scores.scores)
        }
        let obo = """
            [Term]
            id: T:0001
            namespace: bp

            [Term]
            id: T:0002
            namespace: bp
            is_a: T:0001

            [Term]
            id: T:0004
            namespace: bp
            is_a: T:0002

            """
        let ontology = try CAFAFiles.ontology(Array(obo.utf8))
        let truth = try CAFAFiles.annotations(
            Array("P1 T:0004\nP2 T:0002\nP3 T:0001 IDA NOT\n".utf8), ontology: ontology)
        #expect(truth.rows.count == 2)
        let evaluator = CAFAEvaluator(ontology: ontology)
        #expect(
            evaluator.evaluate(truth: truth, predictions: read.table)
                == evaluator.evaluate(truth: truth, predictions: grouped))
    }

    /// Targets whose lines interleave (each seen again after another's) keep the same terms, order and highest
    /// scores as when their lines come together; only such a target keeps an index of its own.
    @Test func interleavedTargetsAreReadAsContiguousOnes() throws {
        var generator = SystemRandomNumberGenerator()
        var triples: [(String, String, Double)] = []
        for t in 0..<30 {
            for _ in 0..<40 {
                triples.append(
                    ("P\(t)", "GO:\(Int.random(in: 0..<25, using: &generator))", Double.random(in: 0.01...1)))
            }
        }
        func read(_ order: [(String, String, Double)]) throws -> PredictionUpload {
            var upload = PredictionUpload(known: { _ in true })
            for (n, (target, term, score)) in order.enumerated() {
                try upload.add(ArraySlice("\(target)\t\(term)\t\(score)".utf8), number: n + 1)
            }
            return upload
        }
        let together = try read(triples)
        // Shuffled across targets, each target's own lines still in their order.
        var queues = Dictionary(grouping: triples, by: \.0)
        var shuffled: [(String, String, Double)] = []
        while let target = queues.keys.randomElement(using: &generator) {
            shuffled.append(queues[target]!.removeFirst())
            if queues[target]!.isEmpty { queues[target] = nil }
        }
        let interleaved = try read(shuffled)
        #expect(together.predictions == interleaved.predictions && together.byTarget.count == 30)
        for (target, scores) in together.byTarget {
            #expect(scores.index == nil)
            #expect(interleaved.byTarget[target]?.terms == scores.terms, "\(target)")
            #expect(interleaved.byTarget[target]?.scores == scores.scores, "\(target)")
        }
        // A revisited target's index follows the terms added after it was built.
        var upload = PredictionUpload(known: { _ in true })
        for (n, line) in ["A t1 0.1", "B t1 0.2", "A t2 0.3", "B t2 0.4", "A t1 0.9", "A t3 0.5", "B t9 1"].enumerated()
        {
            try upload.add(ArraySlice(line.utf8), number: n + 1)
        }
        #expect(upload.byTarget["A"]?.terms == ["t1", "t2", "t3"] && upload.byTarget["A"]?.scores == [0.9, 0.3, 0.5])
        #expect(upload.byTarget["B"]?.terms == ["t1", "t2", "t9"] && upload.predictions == 6)
    }

    @Test func predictionsKeepTheHighestScoreInLineOrderAndSkipUnknownTermsAndHeaders() throws {
        var upload = PredictionUpload(known: { $0.hasPrefix("GO:") })
        let lines = [
            "AUTHOR me", "P1 GO:3 0.1", "P1 GO:1 0.2", "P1 GO:1 0.7", "P1 GO:1 0.4", "P1 XX:9 0.9", "P2 GO:2 1",
            "P1 GO:2 0.5", "END",
        ]
        for (n, line) in lines.enumerated() { try upload.add(ArraySlice(line.utf8), number: n + 1) }
        #expect(upload.byTarget["P1"]?.terms == ["GO:3", "GO:1", "GO:2"])
        #expect(upload.byTarget["P1"]?.scores == [0.1, 0.7, 0.5])
        #expect(upload.byTarget["P2"]?.terms == ["GO:2"] && upload.byTarget["P2"]?.scores == [1])
        #expect(upload.lines == 7 && upload.predictions == 4 && upload.unknownTerms == 1)
    }

    @Test(arguments: ["P1 GO:1 0", "P1 GO:1 1.01", "P1 GO:1 x", "P1 GO:1 nan", "P1 GO:1", "P1 GO:1 0.5 extra"])
    func badPredictionLinesNameTheirLine(line: String) {
        var upload = PredictionUpload(known: { _ in true })
        #expect(throws: UploadProblem.self) { try upload.add(ArraySlice(line.utf8), number: 7) }
        do { try upload.add(ArraySlice(line.utf8), number: 7) } catch { #expect("\(error)".hasPrefix("line 7:")) }
    }

    @Test func annotationsLeaveOutNOTQualifiersAndUnknownTerms() throws {
        var upload = AnnotationUpload(known: { $0 != "GO:404" })
        for (n, line) in ["P1 GO:1", "P1 GO:2 IDA", "P2 GO:3 IEA NOT|enables", "P2 GO:4 IEA enables", "P3 GO:404 EXP"]
            .enumerated()
        {
            try upload.add(ArraySlice(line.utf8), number: n + 1)
        }
        #expect(
            upload.annotations.map(\.term) == ["GO:1", "GO:2", "GO:4"] && upload.annotations[2].qualifier == "enables")
        #expect(upload.excludedNot == 1 && upload.unknownTerms == 1 && upload.lines == 5 && upload.kept == 3)
        // Drained, the annotations are handed over and the counts stay.
        #expect(upload.drain().map(\.target) == ["P1", "P1", "P2"])
        try upload.add(ArraySlice("P4 GO:5".utf8), number: 6)
        #expect(upload.drain().map(\.term) == ["GO:5"] && upload.annotations.isEmpty)
        #expect(upload.kept == 4 && upload.lines == 6)
        #expect(throws: UploadProblem.self) { try upload.add(ArraySlice("P1".utf8), number: 7) }
    }

    @Test func informationAccretionReadsTermValueLines() throws {
        #expect(
            try InformationAccretion.parse("GO:1\t0.5\n\nGO:2 1e-3\r\nGO:1\t2.25") == ["GO:1": 2.25, "GO:2": 0.001])
        for bad in ["GO:1", "GO:1 0.5 x", "GO:1 many"] {
            #expect(throws: UploadProblem.self) { try InformationAccretion.parse("GO:0 1\n" + bad) }
            do { _ = try InformationAccretion.parse("GO:0 1\n" + bad) } catch {
                #expect("\(error)".hasPrefix("line 2:"))
            }
        }
    }
}
