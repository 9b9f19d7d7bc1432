import Foundation
import TesseraTestSupport
import Testing

@testable import TesseraCore
@testable import TesseraEvaluation

@Suite struct ClassificationMetricsTests {
    static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 }

    @Test func everyNumberEqualsScikitLearns() throws {
        for c in try ClassificationFixture.load().cases {
            let m = try ClassificationMetrics(truth: c.truth, predicted: c.predicted)
            let e = c.expected
            #expect(m.labels.map(\.label) == e.labels, "\(c.name)")
            #expect(Self.close(m.accuracy, e.accuracy), "\(c.name) accuracy")
            #expect(zip(m.labels.map(\.precision), e.precision).allSatisfy(Self.close), "\(c.name) precision")
            #expect(zip(m.labels.map(\.recall), e.recall).allSatisfy(Self.close), "\(c.name) recall")
            #expect(zip(m.labels.map(\.f1), e.f1).allSatisfy(Self.close), "\(c.name) f1")
            #expect(m.labels.map(\.support) == e.support, "\(c.name) support")
            for (mine, theirs, name) in [
                (m.macro, e.macro, "macro"), (m.micro, e.micro, "micro"), (m.weighted, e.weighted, "weighted"),
            ] {
                #expect(
                    Self.close(mine.precision, theirs.precision),
                    "\(c.name) \(name) precision \(mine.precision) \(theirs.precision)")
                #expect(Self.close(mine.recall, theirs.recall), "\(c.name) \(name) recall")
                #expect(Self.close(mine.f1, theirs.f1), "\(c.name) \(name) f1 \(mine.f1) \(theirs.f1)")
            }
            #expect(m.confusionMatrix == e.confusion_matrix, "\(c.name) confusion matrix")
            let latency = LatencySummary(c.latencies)
            #expect(latency.count == c.latencies.count)
            for (mine, theirs) in [
                (latency.mean, e.latency.mean), (latency.p50, e.latency.p50), (latency.p95, e.latency.p95),
                (latency.p99, e.latency.p99),
            ] {
                #expect(
                    Self.close(try #require(mine), theirs), "\(c.name) latency \(String(describing: mine)) \(theirs)")
            }
        }
    }

    @Test func fixtureHasTheCasesThatMatter() throws {
        let random = try #require(try ClassificationFixture.load().cases.first { $0.name == "random" })
        let truth = Set(random.truth)
        let predicted = Set(random.predicted.compactMap { $0 })
        #expect(!truth.subtracting(predicted).isEmpty, "a label never predicted")
        #expect(!predicted.subtracting(truth).isEmpty, "a prediction never true")
        #expect(random.predicted.contains(nil), "unanswered samples")
    }

    @Test func unansweredSamplesAreCountedPerTrueLabel() throws {
        let m = try ClassificationMetrics(truth: ["a", "a", "b"], predicted: [nil, "a", nil])
        #expect(m.unanswered == [1, 1])
        #expect(m.accuracy == 1.0 / 3)
        #expect(m.labels[0].recall == 0.5 && m.labels[0].precision == 1)
    }

    @Test func emptyInputGivesZeros() throws {
        let m = try ClassificationMetrics(truth: [], predicted: [])
        #expect(m.accuracy == 0 && m.labels.isEmpty && m.macro.f1 == 0)
        #expect(LatencySummary([]).p50 == nil)
    }

    @Test func tooManyDistinctLabelsAreRefused() throws {
        let truth = (0...ClassificationMetrics.maxLabels).map { "label \($0)" }
        #expect(throws: ClassificationMetrics.TooManyLabels.self) {
            try ClassificationMetrics(truth: truth, predicted: truth)
        }
        #expect(
            try ClassificationMetrics(truth: Array(truth.dropLast()), predicted: Array(truth.dropLast())).accuracy == 1)
    }
}

@Suite struct LabelNormalizerTests {
    @Test func stepsApplyInOrder() throws {
        let n = try LabelNormalizer(
            .init(
                trim: true, caseFold: true, stripPunctuation: true, extract: "Answer:\\s*(\\w+)",
                labelMap: ["Yes": "positive", "no": "negative"]))
        #expect(n.prediction("Reasoning... Answer: YES.") == "positive")
        #expect(n.prediction("Answer: maybe") == "maybe")
        #expect(n.prediction("no answer here") == nil)
        #expect(n.truth("  No! ") == "negative")
        #expect(n.truth("Maybe") == "maybe")
    }

    @Test func defaultsOnlyTrim() throws {
        let n = try LabelNormalizer(.init())
        #expect(n.prediction("  Cat\n") == "Cat")
        #expect(n.prediction("   ") == nil)
        #expect(n.truth(" cat.") == "cat.")
    }

    @Test func wholeMatchWithoutAGroup() throws {
        let n = try LabelNormalizer(.init(extract: "[A-D]"))
        #expect(n.prediction("I pick C because") == "C")
    }

    /// Patterns a backtracking engine takes exponential time on finish at once: `^(a+)+$` against 5,000 `a`s and
    /// a `!` would outlast the universe with NSRegularExpression (26 `a`s held a core for over a second).
    @Test func catastrophicPatternsRunInLinearTime() throws {
        let text = String(repeating: "a", count: 5_000) + "!"
        for pattern in ["^(a+)+$", "^(a|aa)+$", "^(a|a?)+$", "^(\\w+\\s?)*$"] {
            #expect(try LabelNormalizer(.init(extract: pattern)).prediction(text) == nil, "\(pattern)")
        }
        #expect(try LabelNormalizer(.init(extract: "(a+)+!")).prediction(text) == String(repeating: "a", count: 5_000))
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            let n = try LabelNormalizer(.init(extract: "^(a+)+$"))
            for _ in 0..<100 { _ = n.prediction(text) }
        }
        // 100 × 5,001 characters; a backtracking engine needs 2^5000 steps for one.
        #expect(elapsed < .seconds(10), "\(elapsed)")
    }

    @Test func unicodeClassesKeepTheirUnicodeMeaning() throws {
        let n = try LabelNormalizer(.init(extract: #"réponse\s*:\s*(\w+)"#))
        #expect(n.prediction("La réponse : Éléphant!") == "Éléphant")
        let digits = try LabelNormalizer(.init(extract: #"[\d]+"#))
        #expect(digits.prediction("score ٣٤ or 12") == "٣٤")
        let bracket = try LabelNormalizer(.init(extract: #"([]a[:digit:]\w-]+)"#))
        #expect(bracket.prediction("=]a9é-x=") == "]a9é-x")
        #expect(LinearPattern.unicodeClasses(#"[^\w]\W"#) == #"[^\pL\pM\pN\p{Pc}][^\pL\pM\pN\p{Pc}]"#)
    }

    @Test(arguments: ["(", "[a-", "", #"(a)\1"#, "(?=a)", "a{2000}"])
    func badPatternsAreRefused(pattern: String) {
        #expect(throws: LabelNormalizer.InvalidPattern.self) { try LabelNormalizer(.init(extract: pattern)) }
    }

    /// A run is evaluated in batches as its rows arrive: any split of the rows comes to the same metrics as the whole.
    @Test(arguments: [false, true])
    func aTallyOfBatchesEqualsTheWholeRun(excludeFailed: Bool) throws {
        var seed: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(n))
        }
        let labels = ["cat", "dog", "Bird", "fish"]
        let rows = (0..<2_503).map { _ -> EvaluatedRow in
            let outcome: Bool? = [nil, false, true, true, true][next(5)]
            let output =
                outcome == true ? ["label: \(labels[next(4)])", "no idea", "  \(labels[next(4)]) "][next(3)] : nil
            return EvaluatedRow(
                expected: labels[next(4)], succeeded: outcome, output: output,
                latencySeconds: outcome == nil ? nil : Double(next(1000)) / 100)
        }
        let normalizer = try LabelNormalizer(
            .init(caseFold: true, extract: #"[a-z]+$"#, excludeFailed: excludeFailed))
        let whole = try RunMetrics(rows: rows, normalizer: normalizer)
        #expect(whole.rows == 2_503 && whole.unparsed > 0 && whole.missing > 0 && whole.latency.count > 0)
        for size in [1, 7, 1_000, 2_503, 4_096] {
            let tally = RunTally(normalizer)
            for start in stride(from: 0, to: rows.count, by: size) {
                tally.add(Array(rows[start..<min(start + size, rows.count)]))
            }
            #expect(try tally.metrics() == whole, "batches of \(size)")
        }
    }

    @Test func failedAndMissingCountAsWrongUnlessExcluded() throws {
        let rows = [
            EvaluatedRow(expected: "a", succeeded: true, output: "a", latencySeconds: 1),
            EvaluatedRow(expected: "a", succeeded: false, output: nil, latencySeconds: 3),
            EvaluatedRow(expected: "b", succeeded: nil, output: nil, latencySeconds: nil),
            EvaluatedRow(expected: "b", succeeded: true, output: "b", latencySeconds: 2),
        ]
        let counted = try RunMetrics(rows: rows, normalizer: try LabelNormalizer(.init()))
        #expect(counted.classification.accuracy == 0.5 && counted.classification.samples == 4)
        #expect(counted.coverage == 0.5 && counted.failureRate == 0.25 && counted.missing == 1)
        #expect(counted.latency.count == 3 && counted.latency.p50 == 2)
        let excluded = try RunMetrics(rows: rows, normalizer: try LabelNormalizer(.init(excludeFailed: true)))
        #expect(excluded.classification.accuracy == 1 && excluded.classification.samples == 2)
        #expect(excluded.coverage == 0.5)
    }
}
