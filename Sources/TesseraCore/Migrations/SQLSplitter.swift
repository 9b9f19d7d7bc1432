/// Splits a SQL script into statements at top-level semicolons, respecting quotes, comments and
/// dollar-quoted bodies (`$$ … $$`, `$fn$ … $fn$`). PostgresNIO sends one statement per query.
public enum SQLSplitter {
    public static func statements(_ script: String) -> [String] {
        let s = Array(script.unicodeScalars)
        var result: [String] = []
        var start = 0
        var i = 0
        func flush(_ end: Int) {
            let text = String(String.UnicodeScalarView(s[start..<end])).trimmingCharacters(in: " \t\r\n")
            if !isBlank(text) { result.append(text) }
        }
        while i < s.count {
            let c = s[i]
            let next: Unicode.Scalar? = i + 1 < s.count ? s[i + 1] : nil
            switch c {
            case "-" where next == "-":
                while i < s.count && s[i] != "\n" { i += 1 }
            case "/" where next == "*":
                var depth = 1
                i += 2
                while i < s.count && depth > 0 {
                    if s[i] == "/" && i + 1 < s.count && s[i + 1] == "*" {
                        depth += 1
                        i += 1
                    } else if s[i] == "*" && i + 1 < s.count && s[i + 1] == "/" {
                        depth -= 1
                        i += 1
                    }
                    i += 1
                }
                continue
            case "'", "\"":
                i += 1
                while i < s.count {
                    if s[i] == c {
                        if i + 1 < s.count && s[i + 1] == c {
                            i += 2
                            continue
                        }  // doubled quote
                        break
                    }
                    i += 1
                }
            case "$":
                if let tag = dollarTag(s, at: i) {
                    i += tag.count
                    while i < s.count && !matches(s, at: i, tag) { i += 1 }
                    i += tag.count
                    continue
                }
            case ";":
                flush(i)
                start = i + 1
            default:
                break
            }
            i += 1
        }
        if start < s.count { flush(s.count) }
        return result
    }

    /// `$tag$` starting at `i` (tag empty or an identifier), else nil.
    static func dollarTag(_ s: [Unicode.Scalar], at i: Int) -> [Unicode.Scalar]? {
        if i > 0, s[i - 1].properties.isAlphabetic || ("0"..."9").contains(s[i - 1]) || s[i - 1] == "_" { return nil }
        var j = i + 1
        while j < s.count, s[j].properties.isAlphabetic || s[j] == "_" || (j > i + 1 && ("0"..."9").contains(s[j])) {
            j += 1
        }
        guard j < s.count, s[j] == "$" else { return nil }
        return Array(s[i...j])
    }

    static func matches(_ s: [Unicode.Scalar], at i: Int, _ tag: [Unicode.Scalar]) -> Bool {
        guard i + tag.count <= s.count else { return false }
        return Array(s[i..<(i + tag.count)]) == tag
    }

    /// True when the text holds only whitespace and comments.
    static func isBlank(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { line in
            let t = line.trimmingCharacters(in: " \t\r")
            return t.isEmpty || t.hasPrefix("--")
        }
    }
}
