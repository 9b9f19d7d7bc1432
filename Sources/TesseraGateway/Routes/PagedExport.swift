import Foundation

/// Records as NDJSON or CSV lines, fetched a page at a time as the client reads: memory stays flat whatever
/// the size, and no connection is held between pages.
struct PagedExport<Cursor: Sendable>: AsyncSequence, Sendable {
    typealias Element = ArraySlice<UInt8>

    /// A page's lines (newlines included), how many records they are and the cursor of the last.
    struct Page: Sendable {
        var lines: [UInt8] = []
        var count = 0
        var last: Cursor?
    }

    /// The page after `cursor` (the first page for nil), of at most `limit` records.
    let fetch: @Sendable (_ after: Cursor?, _ limit: Int) async throws -> Page
    /// The CSV header (nil for NDJSON).
    let header: [UInt8]?
    var pageSize = 1000

    struct AsyncIterator: AsyncIteratorProtocol {
        let export: PagedExport
        var after: Cursor?
        var started = false
        var done = false

        mutating func next() async throws -> ArraySlice<UInt8>? {
            if done { return nil }
            var out: [UInt8] = []
            if !started, let header = export.header { out = header }
            started = true
            let page = try await export.fetch(after, export.pageSize)
            if page.count < export.pageSize { done = true }
            guard let last = page.last else { return out.isEmpty ? nil : out[...] }
            after = last
            if out.isEmpty { return page.lines[...] }
            return (out + page.lines)[...]
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(export: self) }
}

extension PagedExport {
    /// Records fetched a page at a time, each written by `line`.
    init<Record>(
        records: @escaping @Sendable (_ after: Cursor?, _ limit: Int) async throws -> [Record],
        cursor: @escaping @Sendable (Record) -> Cursor, header: [UInt8]?,
        line: @escaping @Sendable (Record) throws -> [UInt8]
    ) {
        self.init(
            fetch: { after, limit in
                let records = try await records(after, limit)
                var page = Page(count: records.count, last: records.last.map(cursor))
                for record in records { page.lines += try line(record) }
                return page
            }, header: header)
    }
}

enum ExportLines {
    /// Sorted keys, ISO 8601 dates, one object a line.
    static func ndjson<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(value)) + [0x0A]
    }

    /// One CSV line from optional fields (nil as empty).
    static func csv(_ fields: [String?]) -> [UInt8] {
        Array((fields.map { field($0 ?? "") }.joined(separator: ",") + "\n").utf8)
    }

    /// RFC 4180: quoted when it holds a comma, quote, CR or LF (bytes compared: `"\r\n"` is one Character, equal
    /// to neither); quotes doubled. A cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
    /// tab or CR, and not a number) is neutralised with a leading `'`.
    static func field(_ value: String) -> String {
        var value = value
        if let first = value.utf8.first,
            [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D].contains(first),
            Double(value) == nil
        {
            value = "'" + value
        }
        guard value.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
