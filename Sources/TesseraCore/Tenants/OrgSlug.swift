/// An org's URL-friendly name: 2–63 of `a-z`, `0-9` and `-`, starting with a letter or digit.
public enum OrgSlug {
    public static func isValid(_ slug: String) -> Bool {
        let bytes = Array(slug.utf8)
        guard (2...63).contains(bytes.count), let first = bytes.first, isAlnum(first) else { return false }
        return bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// A slug made from a display name ("Acme Labs, Inc." → "acme-labs-inc").
    public static func derive(from name: String) -> String {
        var out: [UInt8] = []
        for byte in name.lowercased().utf8 {
            if isAlnum(byte) {
                out.append(byte)
            } else if out.last != UInt8(ascii: "-") {
                out.append(UInt8(ascii: "-"))
            }
        }
        while out.first == UInt8(ascii: "-") { out.removeFirst() }
        while out.last == UInt8(ascii: "-") { out.removeLast() }
        var slug = String(decoding: out.prefix(63), as: UTF8.self)
        while slug.hasSuffix("-") { slug.removeLast() }
        return slug.count >= 2 ? slug : "org-" + slug
    }

    static func isAlnum(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }
}
