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
