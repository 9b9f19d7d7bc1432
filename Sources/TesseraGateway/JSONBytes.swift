import Foundation

/// JSON written byte by byte as `JSONEncoder` with `.sortedKeys, .withoutEscapingSlashes` writes it (a test
/// compares the two), for lines an export writes by the thousand: the encoder cost an audit export 20 µs a record.
enum JSONBytes {
    static let hexDigits = Array("0123456789abcdef".utf8)

    /// `bytes` (UTF-8) as a JSON string: quote and backslash escaped, control characters as `\n`, `\t`, … or
    /// `\u00XX`; everything else as it is.
    static func string(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(0x22)
        var start = 0
        for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            start = index + 1
            out.append(0x5C)
            switch byte {
            case 0x22, 0x5C: out.append(byte)
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x09: out.append(UInt8(ascii: "t"))
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            default:
                out.append(contentsOf: [
                    UInt8(ascii: "u"), 0x30, 0x30, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 15)],
                ])
            }
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
        out.append(0x22)
    }

    /// `bytes` as lowercase hex in quotes.
    static func hex(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(0x22)
        for byte in bytes {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 15)])
        }
        out.append(0x22)
    }

    /// 16 bytes as a lowercase UUID (8-4-4-4-12) in quotes.
    static func uuid(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(0x22)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 15)])
        }
        out.append(0x22)
    }

    static func integer(_ value: Int64, into out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }
}
