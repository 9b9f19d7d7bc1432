import Foundation
import Testing

@testable import TesseraCore

@Suite struct SemanticVersionTests {
    @Test func partsAreParsed() throws {
        let plain = try #require(SemanticVersion("1.2.3"))
        #expect(plain.major == 1 && plain.minor == 2 && plain.patch == 3)
        #expect(plain.prerelease.isEmpty && plain.build.isEmpty)

        let pre = try #require(SemanticVersion("1.0.0-alpha.1"))
        #expect(pre.prerelease == ["alpha", "1"])
        #expect(pre.build.isEmpty)

        let built = try #require(SemanticVersion("1.0.0+build.5"))
        #expect(built.prerelease.isEmpty)
        #expect(built.build == ["build", "5"])

        let both = try #require(SemanticVersion("10.20.30-rc.1-x+exp.sha.5114f85"))
        #expect(both.major == 10 && both.minor == 20 && both.patch == 30)
        #expect(both.prerelease == ["rc", "1-x"])
        #expect(both.build == ["exp", "sha", "5114f85"])
    }

    @Test(arguments: [
        "1.2.3", "0.0.0", "1.0.0-alpha.1", "1.0.0+build.5", "1.0.0-rc.1+build.05", "1.0.0-0A.is.legal", "1.0.0--",
        "10.20.30-x-y-z.--",
    ])
    func validVersionsGiveBackTheirText(text: String) {
        #expect(SemanticVersion(text)?.description == text)
    }

    @Test(arguments: [
        "01.2.3", "1.02.3", "1.2.03", "1.2", "1", "1.2.3.4", "1.2.3-", "1.2.3+", "1.2.3-alpha..1", "1.2.3+a..b",
        "1.2.3-01", "1.2.3-alpha+", "", " 1.2.3", "1.2.3 ", "a.b.c", "-1.2.3", "+1.2.3", "v1.2.3", "1.2.3-é",
        "99999999999999999999.0.0",
    ])
    func invalidVersionsAreRefused(text: String) {
        #expect(SemanticVersion(text) == nil)
    }

    @Test func precedenceFollowsTheSpecExample() throws {
        let texts = [
            "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
            "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0",
        ]
        var versions: [SemanticVersion] = []
        for text in texts { versions.append(try #require(SemanticVersion(text))) }
        for i in versions.indices {
            for j in versions.indices {
                #expect((versions[i] < versions[j]) == (i < j), "\(versions[i]) < \(versions[j])")
            }
        }
        #expect(versions.reversed().sorted() == versions)
    }

    private func v(_ text: String) throws -> SemanticVersion {
        try #require(SemanticVersion(text))
    }

    @Test func identifiersCompareByKindAndBuildIsIgnored() throws {
        #expect(try v("1.0.0-2") < v("1.0.0-10"))
        #expect(try v("1.0.0-999") < v("1.0.0-1a"))
        #expect(try v("1.0.0-Beta") < v("1.0.0-alpha"))  // ASCII order
        #expect(try !(v("1.0.0+a") < v("1.0.0+b")) && !(v("1.0.0+b") < v("1.0.0+a")))
        #expect(try v("1.0.0+a") != v("1.0.0+b"))
    }
}

@Suite struct PipelineGraphTests {
    private func step(_ key: String, _ dependsOn: [String] = []) -> PipelineStep {
        PipelineStep(key: key, task: "classify", version: "1.0.0", dependsOn: dependsOn)
    }

    @Test func aDiamondIsValidAndOrdered() {
        let steps = [
            step("fetch"), step("left", ["fetch"]), step("right", ["fetch"]), step("join", ["left", "right"]),
        ]
        #expect(PipelineGraph.problems(steps).isEmpty)
        #expect(PipelineGraph.order(steps) == ["fetch", "left", "right", "join"])
    }

    @Test func orderPutsDependenciesFirstAndOtherwiseKeepsTheInputOrder() {
        #expect(PipelineGraph.order([step("c", ["a"]), step("b"), step("a")]) == ["b", "a", "c"])
        #expect(PipelineGraph.order([step("only")]) == ["only"])
    }

    @Test func duplicateKeysAreNamedAtTheLaterStep() {
        let steps = [step("a"), step("b"), step("a")]
        #expect(PipelineGraph.problems(steps) == [.duplicateStep(path: "steps[2].key", key: "a")])
        #expect(PipelineGraph.order(steps) == nil)
    }

    @Test func invalidKeysAreNamed() {
        let steps = [
            step("Bad"), step("_x"), step("a_b-c"), step(String(repeating: "a", count: 63)),
            step(String(repeating: "a", count: 64)),
        ]
        #expect(
            PipelineGraph.problems(steps) == [
                .invalidStepKey(path: "steps[0].key", key: "Bad"),
                .invalidStepKey(path: "steps[1].key", key: "_x"),
                .invalidStepKey(path: "steps[4].key", key: String(repeating: "a", count: 64)),
            ])
    }

    @Test func unknownDependenciesHaveTheirExactPath() {
        let steps = [step("a"), step("b", ["a", "nope"])]
        #expect(PipelineGraph.problems(steps) == [.unknownDependency(path: "steps[1].depends_on[1]", key: "nope")])
        #expect(PipelineGraph.order(steps) == nil)
    }

    @Test func aStepCannotDependOnItself() {
        #expect(
            PipelineGraph.problems([step("a"), step("b", ["a", "b"])]) == [
                .selfDependency(path: "steps[1].depends_on[1]", key: "b")
            ])
    }

    @Test func aThreeCycleIsReportedOnce() {
        let steps = [step("x"), step("b", ["c"]), step("c", ["a"]), step("a", ["b"])]
        #expect(PipelineGraph.problems(steps) == [.cycle(path: "steps[1].depends_on", keys: ["b", "c", "a", "b"])])
        #expect(PipelineGraph.order(steps) == nil)
    }

    @Test func separateCyclesAreAllReported() {
        let steps = [step("a", ["b"]), step("b", ["a"]), step("c", ["d"]), step("d", ["c"]), step("e", ["a"])]
        #expect(
            PipelineGraph.problems(steps) == [
                .cycle(path: "steps[0].depends_on", keys: ["a", "b", "a"]),
                .cycle(path: "steps[2].depends_on", keys: ["c", "d", "c"]),
            ])
    }

    @Test func stepProblemsComeBeforeCycles() {
        let steps = [step("a", ["b", "ghost"]), step("b", ["a"])]
        #expect(
            PipelineGraph.problems(steps) == [
                .unknownDependency(path: "steps[0].depends_on[1]", key: "ghost"),
                .cycle(path: "steps[0].depends_on", keys: ["a", "b", "a"]),
            ])
    }

    @Test func aPipelineNeedsSteps() {
        #expect(PipelineGraph.problems([]) == [.noSteps(path: "steps")])
        #expect(PipelineGraph.order([]) == nil)
        #expect(PipelineProblem.noSteps(path: "steps").description.hasPrefix("steps: "))
    }
}

@Suite struct CanonicalJSONTests {
    /// The canonical text of a JSON document as `JSONSerialization` reads it.
    private func canonical(_ json: String) throws -> String {
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        return String(decoding: try CanonicalJSON.encode(value), as: UTF8.self)
    }

    @Test func keysAreSortedAndWhiteSpaceDropped() throws {
        #expect(
            try canonical(#"{ "b" : 1, "a" : [ 1, 2 ], "c" : { "z" : "x", "y" : 0 } }"#)
                == #"{"a":[1,2],"b":1,"c":{"y":0,"z":"x"}}"#)
        // UTF-16 code unit order: the surrogate pair of U+1F600 (0xD83D...) sorts before U+FF61.
        #expect(
            try canonical(#"{"é":1,"z":2,"😀":3,"\uff61":4,"A":5,"":6}"#) == #"{"":6,"A":5,"z":2,"é":1,"😀":3,"｡":4}"#)
    }

    @Test func literalsAreWrittenAsSuch() throws {
        #expect(try canonical("[true,false,null]") == "[true,false,null]")
        #expect(try canonical("true") == "true")
        #expect(try canonical(#"{"t":true,"f":false,"one":1,"zero":0}"#) == #"{"f":false,"one":1,"t":true,"zero":0}"#)
    }

    @Test func numbersAreWrittenLikeJavaScript() throws {
        #expect(try canonical("[1.0, 0.5, -3, 100, 1E2, -0.0, 0.1, 3.14159]") == "[1,0.5,-3,100,100,0,0.1,3.14159]")
        #expect(
            try canonical("[1e20, 1e21, 0.000001, 1e-7, 1.5e-7, 2.5e+300]")
                == "[100000000000000000000,1e+21,0.000001,1e-7,1.5e-7,2.5e+300]"
        )
        #expect(try canonical("12345678901234567890") == "12345678901234567890")
        #expect(CanonicalJSON.javaScriptText(333333333.33333329) == "333333333.3333333")
        #expect(CanonicalJSON.javaScriptText(1.7976931348623157e308) == "1.7976931348623157e+308")
    }

    @Test func stringsAreEscapedMinimally() throws {
        #expect(try canonical(#""a\"b\\c\b\f\n\r\t\u0001\u001f/""#) == #""a\"b\\c\b\f\n\r\t\u0001\u001f/""#)
        #expect(try CanonicalJSON.encode("\u{7F}") == [0x22, 0x7F, 0x22])
    }

    @Test func unicodeIsWrittenAsLiteralUTF8() throws {
        #expect(try canonical(#""caf\u00e9 😀""#) == "\"café 😀\"")
        #expect(try CanonicalJSON.encode("é") == [0x22, 0xC3, 0xA9, 0x22])
    }

    @Test func nestingIsKept() throws {
        #expect(try canonical(#"[{"k":[1,[2,{"x":{}}]]},[],{}]"#) == #"[{"k":[1,[2,{"x":{}}]]},[],{}]"#)
    }

    @Test func equalDictionariesGiveIdenticalBytes() throws {
        let first = try JSONSerialization.jsonObject(with: Data(#"{"b":2,"a":1,"c":{"y":true,"x":null}}"#.utf8))
        let second = try JSONSerialization.jsonObject(with: Data(#"{"c":{"x":null,"y":true},"a":1,"b":2}"#.utf8))
        #expect(try CanonicalJSON.encode(first) == CanonicalJSON.encode(second))
        let swift: [String: Any] = ["c": ["x": NSNull(), "y": true] as [String: Any], "a": 1, "b": 2]
        #expect(try CanonicalJSON.encode(swift) == CanonicalJSON.encode(first))
    }

    @Test func valuesJSONCannotHoldAreRefused() {
        #expect(throws: CanonicalJSON.Error.unsupported("the number nan")) { try CanonicalJSON.encode(Double.nan) }
        #expect(throws: CanonicalJSON.Error.self) { try CanonicalJSON.encode([Double.infinity]) }
        #expect(throws: CanonicalJSON.Error.self) { try CanonicalJSON.encode(["when": Date()]) }
    }
}

@Suite struct SequenceEmbeddingsTests {
    static let config = "5f0c3d5e-7a53-4c3c-9a8e-1d2b3c4d5e6f"

    @Test func anAnswerWithoutThemHasNone() throws {
        #expect(try SequenceEmbeddings.parse(#"{"total":3}"#).get() == nil)
        #expect(try SequenceEmbeddings.parse("not json").get() == nil)
    }

    @Test func vectorsAreReadAsFloat32() throws {
        let answer =
            #"{"sequence_embeddings":{"embedding_config_id":"\#(Self.config)","vectors":[{"accession":"P1","vector":[0.5,1,-2e-3]},{"accession":"sp|P2|X","vector":[0,0,1]}]}}"#
        let parsed = try #require(try SequenceEmbeddings.parse(answer).get())
        #expect(parsed.configID == UUID(uuidString: Self.config))
        #expect(parsed.vectors.map(\.accession) == ["P1", "sp|P2|X"])
        #expect(parsed.vectors[0].values == [0.5, 1, -0.002])
    }

    @Test(arguments: [
        (#"{"sequence_embeddings":[]}"#, "sequence_embeddings: must be an object"),
        (#"{"sequence_embeddings":{"embedding_config_id":"x","vectors":[]}}"#, "embedding_config_id: must be a UUID"),
        (#"{"sequence_embeddings":{"embedding_config_id":"C","vectors":[]}}"#, "vectors: must be an array of 1 to"),
        (
            #"{"sequence_embeddings":{"embedding_config_id":"C","vectors":[{"accession":"","vector":[1]}]}}"#,
            "vectors[0].accession"
        ),
        (
            #"{"sequence_embeddings":{"embedding_config_id":"C","vectors":[{"accession":"P","vector":[1e39]}]}}"#,
            "vectors[0].vector: holds a value no float32 holds"
        ),
        (
            #"{"sequence_embeddings":{"embedding_config_id":"C","vectors":[{"accession":"P","vector":[true]}]}}"#,
            "vectors[0].vector: holds a value no float32 holds"
        ),
        (
            #"{"sequence_embeddings":{"embedding_config_id":"C","vectors":[{"accession":"P","vector":[1,2]},{"accession":"Q","vector":[1]}]}}"#,
            "vectors[1].vector: 1 values where the first vector has 2"
        ),
    ])
    func wrongAnswersAreNamed(answer: String, reason: String) {
        let text = answer.replacingOccurrences(of: #""C""#, with: "\"\(Self.config)\"")
        guard case .failure(let problem) = SequenceEmbeddings.parse(text) else {
            Issue.record("accepted: \(text)")
            return
        }
        #expect(problem.reason.contains(reason), "\(problem.reason)")
    }
}
