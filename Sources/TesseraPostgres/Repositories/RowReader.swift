import NIOCore
import PostgresNIO

/// A row's columns read in order straight from their bytes, for queries that return tens of thousands of rows:
/// PostgresNIO's `decode((A, B, C).self)` looks up the tuple's type metadata and goes through its decoding protocol
/// for every row, which was most of reading a 20,000-term ontology back.
struct RowReader {
    struct Unexpected: Error, CustomStringConvertible {
        let column: String
        let expected: String
        var description: String { "column \(column) is not \(expected)" }
    }

    var cells: PostgresRow.Iterator

    init(_ row: PostgresRow) {
        cells = row.makeIterator()
    }

    mutating func cell(_ expected: String) throws -> PostgresCell {
        guard let cell = cells.next() else { throw Unexpected(column: "past the row's end", expected: expected) }
        return cell
    }

    /// The next column, `text` (or `varchar`) and not NULL.
    mutating func text() throws -> String {
        guard let text = try optionalText() else { throw Unexpected(column: "a NULL", expected: "text") }
        return text
    }

    /// The next column, `text` (or `varchar`), nil for NULL.
    mutating func optionalText() throws -> String? {
        let cell = try cell("text")
        guard cell.format == .binary, cell.dataType == .text || cell.dataType == .varchar else {
            throw Unexpected(column: cell.columnName, expected: "text")
        }
        return cell.bytes.map { String(buffer: $0) }
    }

    /// The next column, `boolean` and not NULL.
    mutating func bool() throws -> Bool {
        let cell = try cell("boolean")
        guard cell.format == .binary, cell.dataType == .bool, let bytes = cell.bytes, bytes.readableBytes == 1 else {
            throw Unexpected(column: cell.columnName, expected: "a boolean")
        }
        return bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) != 0
    }

    /// The next column's bytes as they came (binary format), not NULL.
    mutating func bytes() throws -> ByteBuffer {
        let cell = try cell("a value")
        guard cell.format == .binary, let bytes = cell.bytes else {
            throw Unexpected(column: cell.columnName, expected: "a value")
        }
        return bytes
    }
}
