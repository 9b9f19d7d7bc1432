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

    /// A whole body at once (the streaming readers below, fed one chunk).
    public static func parse(_ data: Data, format: Format, requiredFields: [String]) throws -> [ImportedRow] {
        var reader = LineReader(requiredFields: requiredFields)
        switch format {
        case .ndjson:
            return try reader.rows(in: data) + reader.finish()
        case .jsonArray:
            var splitter = ArraySplitter()
            let rows = try reader.rows(in: splitter.lines(from: data))
            try splitter.finish()
            return rows + (try reader.finish())
        }
    }

    /// NDJSON rows as the body arrives: each complete line is parsed (numbered from 1, blank lines counted and
    /// skipped, a trailing CR dropped); a partial line waits for the next chunk.
    public struct LineReader: Sendable {
        let requiredFields: [String]
        private var partial: [UInt8] = []
        /// Lines read so far.
        public private(set) var line = 0

        public init(requiredFields: [String]) {
            self.requiredFields = requiredFields
        }

        public mutating func rows<Bytes: Collection<UInt8>>(in chunk: Bytes) throws -> [ImportedRow] {
            var rows: [ImportedRow] = []
            var start = chunk.startIndex
            while let newline = chunk[start...].firstIndex(of: 0x0A) {
                partial.append(contentsOf: chunk[start..<newline])
                try take(into: &rows)
                start = chunk.index(after: newline)
            }
            partial.append(contentsOf: chunk[start...])
            return rows
        }

        /// The last line, when the body does not end with a line break.
        public mutating func finish() throws -> [ImportedRow] {
            var rows: [ImportedRow] = []
            if !partial.isEmpty { try take(into: &rows) }
            return rows
        }

        private mutating func take(into rows: inout [ImportedRow]) throws {
            defer { partial.removeAll(keepingCapacity: true) }
            line += 1
            let trimmed = partial.last == 0x0D ? partial.dropLast() : partial[...]
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(trimmed), options: [.fragmentsAllowed])
            } catch {
                throw Problem(row: line, reason: "not valid JSON")
            }
            rows.append(try row(object, number: line, requiredFields: requiredFields))
        }
    }

    /// A JSON array of rows, as it arrives, made into NDJSON for a `LineReader`: one line per element, so the
    /// element's number is the line's. Only the array's own shape is checked here (the brackets, the commas
    /// between elements, nothing after it); each element is parsed as its line. Line breaks between an element's
    /// tokens become spaces; one inside a string, which JSON does not allow, makes that element invalid.
    public struct ArraySplitter: Sendable {
        enum State: Sendable { case before, first, afterComma, element, afterArray }
        var state = State.before
        var depth = 0
        var inString = false
        var escaped = false
        var elements = 0

        public init() {}

        public mutating func lines<Bytes: Collection<UInt8>>(from chunk: Bytes) throws -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(chunk.count + 16)
            for byte in chunk {
                let space = byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
                switch state {
                case .before:
                    if space { continue }
                    guard byte == UInt8(ascii: "[") else {
                        throw Problem(row: 0, reason: "the body must be a JSON array of rows")
                    }
                    state = .first
                case .first, .afterComma:
                    if space { continue }
                    if byte == UInt8(ascii: "]") {
                        guard state == .first else { throw Problem(row: 0, reason: "the body is not valid JSON") }
                        state = .afterArray
                        continue
                    }
                    // An element left out (`[,` or `,,`) would make an empty line, which NDJSON skips.
                    if byte == UInt8(ascii: ",") { throw Problem(row: 0, reason: "the body is not valid JSON") }
                    state = .element
                    elements += 1
                    try element(byte, into: &out)
                case .element:
                    try element(byte, into: &out)
                case .afterArray:
                    guard space else { throw Problem(row: 0, reason: "the body is not valid JSON") }
                }
            }
            return out
        }

        /// The body has ended: it must have been one whole array.
        public func finish() throws {
            guard state == .afterArray else { throw Problem(row: 0, reason: "the body is not valid JSON") }
        }

        private mutating func element(_ byte: UInt8, into out: inout [UInt8]) throws {
            if inString {
                if byte == 0x0A || byte == 0x0D { throw Problem(row: elements, reason: "not valid JSON") }
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                out.append(byte)
                return
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 {
                    guard byte == UInt8(ascii: "]") else { throw Problem(row: elements, reason: "not valid JSON") }
                    out.append(0x0A)
                    state = .afterArray
                    return
                }
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 0 {
                    out.append(0x0A)
                    state = .afterComma
                    return
                }
            case 0x0A, 0x0D:
                out.append(0x20)
                return
            default:
                break
            }
            out.append(byte)
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
