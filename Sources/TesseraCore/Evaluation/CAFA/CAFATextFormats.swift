import Foundation

/// Readers for cafaeval's whitespace-separated inputs (ground truth, predictions, IA).
public enum CAFATextFormats {
    /// Reads ground truth lines `target term [...]`; blank lines skipped, single-column lines rejected.
    public static func readTruth(utf8 bytes: UnsafeBufferPointer<UInt8>) throws -> CAFATruthTable {
        var table = CAFATruthTable()
        try forEachLine(bytes) { line, cols in
            if cols.isEmpty { return }
            guard cols.count >= 2 else {
                throw CAFAInputError.malformedLine(kind: "ground truth", line: line, reason: "expected 2 columns")
            }
            table.append(target: ByteText.string(bytes, cols[0].0, cols[0].1), term: ByteText.string(bytes, cols[1].0, cols[1].1))
        }
        return table
    }

    /// Reads prediction lines `target term score [...]`; lines with fewer than 3 columns are skipped (as cafaeval).
    public static func readPredictions(utf8 bytes: UnsafeBufferPointer<UInt8>) throws -> CAFAPredictionTable {
        var newlines = 0
        for b in bytes where b == 0x0A { newlines += 1 }
        var table = CAFAPredictionTable(capacity: newlines + 1)
        try forEachLine(bytes) { line, cols in
            guard cols.count >= 3 else { return }
            guard let score = CAFAScoreParser.parse(bytes, cols[2].0, cols[2].1) else {
                throw CAFAInputError.malformedLine(kind: "prediction", line: line, reason: "invalid score")
            }
            table.append(target: ByteText.string(bytes, cols[0].0, cols[0].1),
                         term: ByteText.string(bytes, cols[1].0, cols[1].1), score: score)
        }
        return table
    }

    /// Reads IA lines `term value` (later lines win); blank lines skipped, other column counts rejected.
    public static func readInformationAccretion(utf8 bytes: UnsafeBufferPointer<UInt8>) throws -> [String: Double] {
        var map: [String: Double] = [:]
        try forEachLine(bytes) { line, cols in
            if cols.isEmpty { return }
            guard cols.count == 2, let v = CAFAScoreParser.parse(bytes, cols[1].0, cols[1].1) else {
                throw CAFAInputError.malformedLine(kind: "IA", line: line, reason: "expected `term value`")
            }
            map[ByteText.string(bytes, cols[0].0, cols[0].1)] = v
        }
        return map
    }

    /// Reads a whole file and passes its bytes to `body`.
    public static func withFile<R>(_ path: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R {
        guard let data = FileManager.default.contents(atPath: path) else { throw CAFAInputError.unreadable(path: path) }
        return try data.withUnsafeBytes { raw in try body(raw.bindMemory(to: UInt8.self)) }
    }

    /// Calls `body` with the 1-based line number and up to 3 whitespace-separated column ranges per line.
    static func forEachLine(_ bytes: UnsafeBufferPointer<UInt8>,
                            _ body: (Int, [(Int, Int)]) throws -> Void) throws {
        var position = 0
        var line = 0
        let count = bytes.count
        var cols: [(Int, Int)] = []
        cols.reserveCapacity(3)
        while position < count {
            line += 1
            var end = position
            while end < count && bytes[end] != 0x0A { end += 1 }
            cols.removeAll(keepingCapacity: true)
            var i = position
            while i < end && cols.count < 3 {
                while i < end && ByteText.isSpace(bytes[i]) { i += 1 }
                let s = i
                while i < end && !ByteText.isSpace(bytes[i]) { i += 1 }
                if s < i { cols.append((s, i)) }
            }
            // A 4th token means "more than 3 columns"; report it as a 4th entry for exact-count checks.
            while i < end && ByteText.isSpace(bytes[i]) { i += 1 }
            if i < end { cols.append((i, i)) }
            try body(line, cols)
            position = end + 1
        }
    }
}
