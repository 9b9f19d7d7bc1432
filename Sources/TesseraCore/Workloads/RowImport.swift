import Foundation

/// One dataset row to import: its content (a JSON object) and the expected prediction, if any.
public struct ImportedRow: Sendable, Equatable {
    public let content: String  // JSON text of the object, as given
    public let expectedPrediction: String?
}

/// Parses a bulk import, JSON array or NDJSON, all or nothing: the first bad row is reported with its
/// number (the line for NDJSON, the element for an array), and nothing is returned.
public enum RowImport {
    public enum Format: Sendable { case jsonArray, ndjson }

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let row: Int
        public let reason: String
        public var description: String { "row \(row): \(reason)" }
    }

    public static func parse(_ data: Data, format: Format, requiredFields: [String]) throws -> [ImportedRow] {
        switch format {
        case .ndjson:
            var rows: [ImportedRow] = []
            var line = 0
            for slice in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
                line += 1
                let trimmed = slice.last == 0x0D ? slice.dropLast() : slice
                if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                let object: Any
                do {
                    object = try JSONSerialization.jsonObject(with: Data(trimmed))
                } catch {
                    throw Problem(row: line, reason: "not valid JSON")
                }
                rows.append(try row(object, number: line, requiredFields: requiredFields))
            }
            return rows
        case .jsonArray:
            let parsed: Any
            do {
                parsed = try JSONSerialization.jsonObject(with: data)
            } catch {
                throw Problem(row: 0, reason: "the body is not valid JSON")
            }
            guard let array = parsed as? [Any] else {
                throw Problem(row: 0, reason: "the body must be a JSON array of rows")
            }
            return try array.enumerated().map { try row($1, number: $0 + 1, requiredFields: requiredFields) }
        }
    }

    static func row(_ object: Any, number: Int, requiredFields: [String]) throws -> ImportedRow {
        guard let dict = object as? [String: Any] else { throw Problem(row: number, reason: "a row must be an object") }
        guard let content = dict["content"] as? [String: Any] else {
            throw Problem(row: number, reason: "content must be an object")
        }
        for field in requiredFields where content[field] == nil {
            throw Problem(row: number, reason: "content lacks the dataset's field '\(field)'")
        }
        let expected: String?
        switch dict["expected_prediction"] {
        case nil, is NSNull: expected = nil
        case let text as String: expected = text
        default: throw Problem(row: number, reason: "expected_prediction must be a string")
        }
        let unknown = Set(dict.keys).subtracting(["content", "expected_prediction"])
        if let key = unknown.sorted().first { throw Problem(row: number, reason: "unknown key '\(key)'") }
        let text = String(
            decoding: try JSONSerialization.data(withJSONObject: content, options: [.sortedKeys]), as: UTF8.self)
        return ImportedRow(content: text, expectedPrediction: expected)
    }
}
