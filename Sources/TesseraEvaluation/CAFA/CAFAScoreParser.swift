import TesseraCore

/// Parses decimal numbers from bytes with the same (correctly rounded) result as Python's `float()`.
enum CAFAScoreParser {
    /// Exact powers of ten representable as doubles.
    static let powersOfTen: [Double] = (0...22).map { e in (0..<e).reduce(1.0) { r, _ in r * 10 } }

    /// Parses `[start, end)`; plain decimals with ≤ 15 digits use an exact fast path, others `Double(String)`.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Double? {
        var i = start
        var negative = false
        if i < end && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var fraction = 0
        var seenDot = false
        var ok = i < end
        while i < end {
            let b = bytes[i]
            if b >= 0x30 && b <= 0x39 {
                mantissa = mantissa &* 10 &+ UInt64(b - 0x30)
                digits += 1
                if seenDot { fraction += 1 }
            } else if b == UInt8(ascii: ".") && !seenDot {
                seenDot = true
            } else {
                ok = false
                break
            }
            i += 1
        }
        if ok && digits > 0 && digits <= 15 && fraction <= 22 {
            // Both operands are exact, so a single IEEE division is correctly rounded.
            let value = Double(mantissa) / powersOfTen[fraction]
            return negative ? -value : value
        }
        return Double(ByteText.string(bytes, start, end))
    }
}
