/// A version number in the SemVer 2.0.0 form `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`,
/// e.g. "1.2.3", "1.0.0-alpha.1" or "1.0.0+build.5".
///
/// `<` follows SemVer precedence, which ignores the build metadata; `==` and hashing compare every
/// part, so "1.0.0+a" and "1.0.0+b" are different values of equal precedence (neither is `<` the other).
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int
    /// The dot-separated pre-release identifiers ("alpha", "1"), empty for a release.
    public let prerelease: [String]
    /// The dot-separated build metadata identifiers, empty when there is none.
    public let build: [String]

    /// Parses a SemVer 2.0.0 string; nil when it is not one (exactly three numeric components,
    /// no leading zeros in numbers, no empty identifiers, only `[0-9A-Za-z-]` in identifiers).
    public init?(_ text: String) {
        var rest = Substring(text)
        var build: [String] = []
        if let plus = rest.firstIndex(of: "+") {
            guard let identifiers = Self.identifiers(rest[rest.index(after: plus)...], numericMayHaveLeadingZeros: true)
            else { return nil }
            build = identifiers
            rest = rest[..<plus]
        }
        var prerelease: [String] = []
        if let dash = rest.firstIndex(of: "-") {
            guard
                let identifiers = Self.identifiers(rest[rest.index(after: dash)...], numericMayHaveLeadingZeros: false)
            else {
                return nil
            }
            prerelease = identifiers
            rest = rest[..<dash]
        }
        let core = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in core {
            guard Self.isNumeric(part), Self.hasNoLeadingZero(part), let number = Int(part) else { return nil }
            numbers.append(number)
        }
        self.major = numbers[0]
        self.minor = numbers[1]
        self.patch = numbers[2]
        self.prerelease = prerelease
        self.build = build
    }

    /// The canonical text, e.g. "1.0.0-rc.1+build.5".
    public var description: String {
        var text = "\(major).\(minor).\(patch)"
        if !prerelease.isEmpty { text += "-" + prerelease.joined(separator: ".") }
        if !build.isEmpty { text += "+" + build.joined(separator: ".") }
        return text
    }

    /// SemVer precedence: numeric parts first, then a pre-release sorts before its release, then
    /// pre-release identifiers one by one (numbers numerically and below alphanumerics, which compare
    /// in ASCII order; a shorter list that is a prefix of a longer one comes first). Build metadata is ignored.
    public static func < (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        if lhs.major != rhs.major { return lhs.major < rhs.major }
        if lhs.minor != rhs.minor { return lhs.minor < rhs.minor }
        if lhs.patch != rhs.patch { return lhs.patch < rhs.patch }
        switch (lhs.prerelease.isEmpty, rhs.prerelease.isEmpty) {
        case (true, _): return false
        case (false, true): return true
        case (false, false): break
        }
        for (left, right) in zip(lhs.prerelease, rhs.prerelease) where left != right {
            return identifierPrecedes(left, right)
        }
        return lhs.prerelease.count < rhs.prerelease.count
    }

    /// Whether two distinct pre-release identifiers are ordered `left` before `right`.
    private static func identifierPrecedes(_ left: String, _ right: String) -> Bool {
        switch (isNumeric(Substring(left)), isNumeric(Substring(right))) {
        case (true, true):
            // No leading zeros, so a shorter numeral is a smaller number (and no Int overflow to worry about).
            if left.utf8.count != right.utf8.count { return left.utf8.count < right.utf8.count }
            return left.utf8.lexicographicallyPrecedes(right.utf8)
        case (true, false): return true
        case (false, true): return false
        case (false, false): return left.utf8.lexicographicallyPrecedes(right.utf8)
        }
    }

    /// The dot-separated identifiers of a pre-release or build part; nil when any is empty or malformed.
    private static func identifiers(_ text: Substring, numericMayHaveLeadingZeros: Bool) -> [String]? {
        var identifiers: [String] = []
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.utf8.allSatisfy(isIdentifierByte) else { return nil }
            if !numericMayHaveLeadingZeros, isNumeric(part), !hasNoLeadingZero(part) { return nil }
            identifiers.append(String(part))
        }
        return identifiers
    }

    private static func isNumeric(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private static func hasNoLeadingZero(_ digits: Substring) -> Bool {
        digits.utf8.count == 1 || digits.utf8.first != UInt8(ascii: "0")
    }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}
