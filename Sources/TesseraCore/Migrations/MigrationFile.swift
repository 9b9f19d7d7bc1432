import Crypto

/// One numbered SQL migration (`NNNN_name.sql`) with the SHA-256 of its text.
public struct MigrationFile: Sendable, Equatable {
    public let name: String
    public let number: Int
    public let sql: String
    public let checksum: String

    public init(name: String, sql: String) throws {
        guard let number = Self.number(of: name) else { throw MigrationFileError.badName(name) }
        self.name = name
        self.number = number
        self.sql = sql
        self.checksum = SHA256.hash(data: Array(sql.utf8)).hexString
    }

    /// The leading number of a well-formed name (`0001_create_orgs.sql` → 1), else nil.
    public static func number(of name: String) -> Int? {
        let chars = Array(name)
        guard chars.count > 9, name.hasSuffix(".sql"), chars[4] == "_",
            chars[0..<4].allSatisfy(\.isASCIIDigit),
            chars[5..<(chars.count - 4)].allSatisfy({ $0.isASCIIDigit || ("a"..."z").contains($0) || $0 == "_" })
        else { return nil }
        return Int(String(chars[0..<4]))
    }

    /// Sorts the files by number and refuses duplicates and malformed names.
    public static func ordered(_ files: [MigrationFile]) throws -> [MigrationFile] {
        let sorted = files.sorted { $0.number < $1.number }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.number == b.number {
            throw MigrationFileError.duplicateNumber(a.name, b.name)
        }
        return sorted
    }
}

public enum MigrationFileError: Error, Equatable, CustomStringConvertible {
    case badName(String)
    case duplicateNumber(String, String)

    public var description: String {
        switch self {
        case .badName(let name): "migration file name '\(name)' is not NNNN_lowercase_name.sql"
        case .duplicateNumber(let a, let b): "migrations '\(a)' and '\(b)' share a number"
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension Sequence where Element == UInt8 {
    /// Lower-case hexadecimal.
    public var hexString: String {
        if let text = withContiguousStorageIfAvailable(Self.hex) { return text }
        return Array(self).withUnsafeBufferPointer(Self.hex)
    }

    /// Written into the string's own storage: an audit page writes two a record (an array of digits and one to
    /// collect into had cost 2 µs a hash).
    static func hex(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (index, byte) in bytes.enumerated() {
                let high = byte >> 4
                let low = byte & 0x0f
                out[2 * index] = high < 10 ? 48 + high : 87 + high
                out[2 * index + 1] = low < 10 ? 48 + low : 87 + low
            }
            return bytes.count * 2
        }
    }
}

extension Digest {
    public var hexString: String { Array(self).hexString }
}

extension Array where Element == UInt8 {
    /// Bytes from hexadecimal text (either case); nil when it is not an even run of hex digits.
    public init?(hex: String) {
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let h = Self.nibble(high), let l = Self.nibble(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        self = bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
