import TesseraCore

/// Small byte-level text helpers shared by the parsers (ASCII whitespace semantics).
enum ByteText {
    /// True for ASCII whitespace bytes (space, tab, CR, LF, VT, FF), as Python's `str.split()`.
    @inline(__always) static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || (b >= 0x09 && b <= 0x0D)
    }

    /// Decodes bytes `[start, end)` as a String.
    @inline(__always) static func string(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// Returns the index of the first `": "` in `[start, end)`, if any.
    static func findColonSpace(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int? {
        var i = start
        while i + 1 < end {
            if bytes[i] == UInt8(ascii: ":") && bytes[i + 1] == UInt8(ascii: " ") { return i }
            i += 1
        }
        return nil
    }

    /// Splits `[start, end)` at whitespace, returning at most `limit` tokens.
    static func tokens(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, limit: Int) -> [String] {
        var result: [String] = []
        var i = start
        while i < end && result.count < limit {
            while i < end && isSpace(bytes[i]) { i += 1 }
            let s = i
            while i < end && !isSpace(bytes[i]) { i += 1 }
            if s < i { result.append(string(bytes, s, i)) }
        }
        return result
    }

    /// Extracts the text between the first pair of unescaped double quotes, or the raw value.
    static func quotedText(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        guard start < end, bytes[start] == UInt8(ascii: "\"") else { return string(bytes, start, end) }
        var out: [UInt8] = []
        var i = start + 1
        while i < end {
            let b = bytes[i]
            if b == UInt8(ascii: "\\") && i + 1 < end {
                out.append(bytes[i + 1])
                i += 2
                continue
            }
            if b == UInt8(ascii: "\"") { break }
            out.append(b)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
