import Foundation

/// Canonical JSON in the manner of RFC 8785 (JCS), so that equal values give identical bytes:
/// object members sorted by the UTF-16 code units of their keys, no white space, strings with only
/// the escapes JSON requires, and numbers written the way JavaScript writes them.
public enum CanonicalJSON {
    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// A value JSON cannot hold (NaN, an infinity) or of a type that is not a JSON value.
        case unsupported(String)

        public var description: String {
            switch self {
            case .unsupported(let what): return "cannot write \(what) as canonical JSON"
            }
        }
    }

    /// The canonical UTF-8 bytes of a value as `JSONSerialization` produces them: dictionaries with
    /// string keys, arrays, strings, numbers (booleans included) and `NSNull`; Swift's own
    /// `String`, `Bool`, integer and floating-point values work too.
    public static func encode(_ value: Any) throws -> [UInt8] {
        var out: [UInt8] = []
        try write(value, to: &out)
        return out
    }

    private static func write(_ value: Any, to out: inout [UInt8]) throws {
        if value is NSNull {
            out += Array("null".utf8)
        } else if let string = value as? String {
            writeString(string, to: &out)
        } else if let number = value as? NSNumber {
            try writeNumber(number, to: &out)
        } else if let array = value as? [Any] {
            out.append(UInt8(ascii: "["))
            for (n, element) in array.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                try write(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        } else if let object = value as? [String: Any] {
            out.append(UInt8(ascii: "{"))
            let keys = object.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            for (n, key) in keys.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                try write(object[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        } else {
            throw Error.unsupported("a value of type \(type(of: value))")
        }
    }

    private static func writeString(_ string: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func writeNumber(_ number: NSNumber, to out: inout [UInt8]) throws {
        if isBoolean(number) {
            out += Array((number.boolValue ? "true" : "false").utf8)
            return
        }
        switch String(cString: number.objCType) {
        case "c", "s", "i", "l", "q":
            out += Array(String(number.int64Value).utf8)
        case "C", "S", "I", "L", "Q":
            out += Array(String(number.uint64Value).utf8)
        default:
            let double = number.doubleValue
            guard double.isFinite else { throw Error.unsupported("the number \(double)") }
            out += Array(javaScriptText(double).utf8)
        }
    }

    /// Whether a number from `JSONSerialization` (or a bridged Swift `Bool`) is a boolean.
    ///
    /// On Linux (checked with swiftc 6.3) JSONSerialization gives booleans the class `__NSCFBoolean` with type
    /// encoding "c", other numbers "i", "q", "Q" or "d" (even `NSNumber(value: Int8(1))` is "i"); a Swift `Bool`
    /// bridges to "c" too. `value is Bool` is no test there: it holds for the number 1.
    public static func isBoolean(_ number: NSNumber) -> Bool {
        #if canImport(Darwin)
            return CFGetTypeID(number) == CFBooleanGetTypeID()
        #else
            return String(cString: number.objCType) == "c"
        #endif
    }

    /// A finite double as JavaScript's `Number.prototype.toString` writes it (ECMA-262 Number::toString):
    /// the shortest digits that read back as the same double, in plain decimal notation when
    /// 1e-6 <= |x| < 1e21 (integers without a fraction), otherwise as e.g. "1e+21" or "1.5e-7".
    static func javaScriptText(_ value: Double) -> String {
        if value == 0 { return "0" }  // -0 too
        if value < 0 { return "-" + javaScriptText(-value) }
        // Swift's description gives the shortest round-trip digits, as "123.45", "1e-07" or "1.2345e+19".
        let text = value.description
        let parts = text.split(separator: "e", omittingEmptySubsequences: false)
        let exponent = parts.count == 2 ? Int(parts[1])! : 0
        let mantissa = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        let whole = mantissa[0]
        let fraction = mantissa.count == 2 ? mantissa[1] : ""
        // value = 0.<digits> * 10^n, with `digits` stripped of leading and trailing zeros.
        var digits = Array(whole + fraction)
        var n = whole.count + exponent
        while digits.first == "0" {
            digits.removeFirst()
            n -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        let k = digits.count
        let s = String(digits)
        if k <= n && n <= 21 {
            return s + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            return String(digits[..<n]) + "." + String(digits[n...])
        } else if -6 < n && n <= 0 {
            return "0." + String(repeating: "0", count: -n) + s
        } else {
            let e = n - 1
            let sign = e < 0 ? "-" : "+"
            let lead = k == 1 ? s : String(digits[0]) + "." + String(digits[1...])
            return lead + "e" + sign + String(abs(e))
        }
    }
}
