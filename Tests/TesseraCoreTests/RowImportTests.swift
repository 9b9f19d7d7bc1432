import Foundation
import Testing

@testable import TesseraCore

@Suite struct RowImportTests {
    @Test func ndjsonRowsParseAndBlankLinesAreSkipped() throws {
        let text = """
            {"content":{"text":"a"},"expected_prediction":"yes"}

            {"content":{"text":"b"}}\r
            {"content":{"text":"c"},"expected_prediction":null}
            """
        let rows = try RowImport.parse(Data(text.utf8), format: .ndjson, requiredFields: ["text"])
        #expect(rows.map(\.expectedPrediction) == ["yes", nil, nil])
        #expect(rows[0].content == #"{"text":"a"}"#)
    }

    @Test func theFirstBadLineIsNamed() {
        let text = "{\"content\":{\"text\":\"a\"}}\n{\"content\":{\"text\":\"b\"}}\n{oops\n{\"content\":{}}\n"
        #expect(throws: RowImport.Problem(row: 3, reason: "not valid JSON")) {
            try RowImport.parse(Data(text.utf8), format: .ndjson, requiredFields: ["text"])
        }
        #expect(throws: RowImport.Problem(row: 2, reason: "content lacks the dataset's field 'text'")) {
            try RowImport.parse(
                Data("{\"content\":{\"text\":\"a\"}}\n{\"content\":{}}".utf8), format: .ndjson, requiredFields: ["text"]
            )
        }
        #expect(throws: RowImport.Problem(row: 1, reason: "unknown key 'extra'")) {
            try RowImport.parse(Data(#"{"content":{},"extra":1}"#.utf8), format: .ndjson, requiredFields: [])
        }
        #expect(throws: RowImport.Problem(row: 1, reason: "expected_prediction must be a string")) {
            try RowImport.parse(
                Data(#"{"content":{},"expected_prediction":3}"#.utf8), format: .ndjson, requiredFields: [])
        }
    }

    @Test func jsonArraysNameTheBadElement() throws {
        #expect(
            try RowImport.parse(Data(#"[{"content":{"q":1}}]"#.utf8), format: .jsonArray, requiredFields: ["q"]).count
                == 1)
        #expect(throws: RowImport.Problem(row: 2, reason: "a row must be an object")) {
            try RowImport.parse(Data(#"[{"content":{}}, 5]"#.utf8), format: .jsonArray, requiredFields: [])
        }
        #expect(throws: RowImport.Problem(row: 0, reason: "the body must be a JSON array of rows")) {
            try RowImport.parse(Data(#"{"content":{}}"#.utf8), format: .jsonArray, requiredFields: [])
        }
    }
}

/// The readers the gateway streams imports through: any split of the body into chunks gives the rows (or the
/// first problem) the whole body gives.
@Suite struct StreamedRowImportTests {
    static func streamed(_ text: String, format: RowImport.Format, chunk: Int) throws -> [ImportedRow] {
        var reader = RowImport.LineReader(requiredFields: [])
        var splitter = RowImport.ArraySplitter()
        var rows: [ImportedRow] = []
        let bytes = Array(text.utf8)
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            let piece = bytes[start..<min(start + chunk, bytes.count)]
            rows += try reader.rows(in: format == .ndjson ? Array(piece) : try splitter.lines(from: piece))
        }
        if format == .jsonArray { try splitter.finish() }
        return rows + (try reader.finish())
    }

    @Test func anyChunkingGivesTheSameRows() throws {
        let ndjson = "{\"content\":{\"t\":\"a\\nb\"}}\r\n\n{\"content\":{\"t\":\"[x]\"},\"expected_prediction\":\"y\"}"
        let array = """
            [ {"content": {"t": "a\\nb"}},
              {"content": {"t": "[x], {y}", "n": [1, {"m": "\\""}]},
               "expected_prediction": "y"} ]\n
            """
        let whole = (
            try RowImport.parse(Data(ndjson.utf8), format: .ndjson, requiredFields: []),
            try RowImport.parse(Data(array.utf8), format: .jsonArray, requiredFields: [])
        )
        #expect(whole.0.count == 2 && whole.1.count == 2)
        #expect(whole.1[1].content == #"{"n":[1,{"m":"\""}],"t":"[x], {y}"}"#)
        for chunk in [1, 2, 3, 7, 64] {
            #expect(try Self.streamed(ndjson, format: .ndjson, chunk: chunk) == whole.0)
            #expect(try Self.streamed(array, format: .jsonArray, chunk: chunk) == whole.1)
        }
    }

    @Test func arraysOfTheWrongShapeAreRefused() throws {
        let cases: [(String, RowImport.Problem)] = [
            (#"{"content":{}}"#, .init(row: 0, reason: "the body must be a JSON array of rows")),
            (#"[{"content":{}},]"#, .init(row: 0, reason: "the body is not valid JSON")),
            (#"[{"content":{}},,{"content":{}}]"#, .init(row: 0, reason: "the body is not valid JSON")),
            (#"[{"content":{}}] x"#, .init(row: 0, reason: "the body is not valid JSON")),
            (#"[{"content":{}}"#, .init(row: 0, reason: "the body is not valid JSON")),
            (#"[{"content":{}}, {"content": }]"#, .init(row: 2, reason: "not valid JSON")),
            ("[{\"content\":{\"t\":\"a\nb\"}}]", .init(row: 1, reason: "not valid JSON")),
        ]
        for (body, problem) in cases {
            for chunk in [1, 5, 1000] {
                #expect(throws: problem, "\(body)") { try Self.streamed(body, format: .jsonArray, chunk: chunk) }
            }
        }
        #expect(try Self.streamed("[]", format: .jsonArray, chunk: 1).isEmpty)
    }
}

@Suite struct PromptTemplateTests {
    @Test func placeholdersAreFoundOnceInOrder() throws {
        let t = try PromptTemplate("Classify: {{text}} (lang {{ lang }}) again {{text}}")
        #expect(t.placeholders == ["text", "lang"])
        #expect(t.missing(from: ["text"]) == ["lang"])
        #expect(t.render(["text": "great", "lang": "en"]) == "Classify: great (lang en) again great")
        #expect(try PromptTemplate("no placeholders").placeholders.isEmpty)
    }

    @Test func malformedTemplatesAreRefused() {
        #expect(throws: PromptTemplate.Problem.self) { try PromptTemplate("open {{text") }
        #expect(throws: PromptTemplate.Problem.self) { try PromptTemplate("bad {{two words}}") }
        #expect(throws: PromptTemplate.Problem.self) { try PromptTemplate("empty {{}}") }
    }

    @Test func edgesKeepTheirMeaning() throws {
        #expect(try PromptTemplate("").render([:]) == "")
        #expect(try PromptTemplate("{{a}}").render(["a": "x"]) == "x")
        #expect(try PromptTemplate("é {{a}}} }}{ ü").render(["a": "{{b}}"]) == "é {{b}}} }}{ ü")
        #expect(try PromptTemplate("{{a}}{{b}}").render(["b": "2"]) == "2")
        #expect(throws: PromptTemplate.Problem.self) { try PromptTemplate("{{{a}}") }
    }

    /// Parsing and rendering are linear: 100,000 placeholders (20,000 distinct) and a text of 200,000 `{`s.
    @Test func longTemplatesAreParsedInOnePass() throws {
        let text = (0..<100_000).map { "{{f\($0 % 20_000)}} " }.joined()
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            let t = try PromptTemplate(text)
            #expect(t.placeholders.count == 20_000 && t.placeholders[19_999] == "f19999")
            #expect(t.render(["f1": "x"]).count == 100_000 + 5)
            #expect(throws: PromptTemplate.Problem.self) { try PromptTemplate(String(repeating: "{", count: 200_000)) }
        }
        #expect(elapsed < .seconds(10), "\(elapsed)")
    }
}
