import CRE2

/// A regular expression a tenant sent, run by RE2: matching takes time linear in the text, so no pattern
/// (`^(a+)+$` included) can hold a core the way a backtracking engine lets it.
///
/// The syntax is RE2's (no back-references, no look-around). `\w`, `\d` and `\s` are given their Unicode
/// meaning, as in ICU and Python, so `(\w+)` still takes "réponse" whole; `\b` stays ASCII.
public final class LinearPattern: @unchecked Sendable {
    // Immutable after init; RE2 matches from many threads at once on one compiled pattern.
    private let compiled: OpaquePointer

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Automata memory per pattern; a pattern needing more (huge counted repetitions) is refused.
    static let maxMemory: Int64 = 8 << 20

    public init(_ pattern: String) throws {
        let translated = Self.unicodeClasses(pattern)
        var error = [CChar](repeating: 0, count: 200)
        let compiled = translated.utf8CString.withUnsafeBufferPointer { bytes in
            tessera_re2_compile(bytes.baseAddress, bytes.count - 1, Self.maxMemory, &error, error.count)
        }
        guard let compiled else {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Invalid(description: reason.isEmpty ? "not a valid regular expression" : reason)
        }
        self.compiled = compiled
    }

    deinit { tessera_re2_free(compiled) }

    /// The first capture group of the leftmost match when the pattern has one and it took part, else the whole
    /// match; nil when nothing matches.
    public func firstMatch(in text: String) -> Substring? {
        var text = text
        return text.withUTF8 { bytes -> Substring? in
            var (start, end) = (0, 0)
            let found = bytes.withMemoryRebound(to: CChar.self) {
                tessera_re2_first_match(compiled, $0.baseAddress, $0.count, &start, &end)
            }
            guard found == 1 else { return nil }
            return Substring(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
    }

    /// `\w`, `\d`, `\s` (and their negations outside brackets) rewritten as Unicode classes RE2 knows.
    static func unicodeClasses(_ pattern: String) -> String {
        let outside: [Character: String] = [
            "w": #"[\pL\pM\pN\p{Pc}]"#, "W": #"[^\pL\pM\pN\p{Pc}]"#, "d": #"\p{Nd}"#, "D": #"\P{Nd}"#,
            "s": #"[\t\n\f\r\v\p{Z}]"#, "S": #"[^\t\n\f\r\v\p{Z}]"#,
        ]
        let inside: [Character: String] = [
            "w": #"\pL\pM\pN\p{Pc}"#, "d": #"\p{Nd}"#, "D": #"\P{Nd}"#, "s": #"\t\n\f\r\v\p{Z}"#,
        ]
        let characters = Array(pattern)
        var result = ""
        var inClass = false
        var first = false  // at the first member of a bracket: a `]` here is a literal
        var i = 0
        while i < characters.count {
            let c = characters[i]
            i += 1
            if c == "\\" && i < characters.count {
                let next = characters[i]
                i += 1
                result += (inClass ? inside[next] : outside[next]) ?? "\\\(next)"
            } else if !inClass {
                result.append(c)
                if c == "[" {
                    (inClass, first) = (true, true)
                    if i < characters.count && characters[i] == "^" {
                        result.append("^")
                        i += 1
                    }
                }
                continue
            } else if c == "[" && i < characters.count && characters[i] == ":",
                let close = characters[i...].firstIndex(of: "]")
            {
                // A POSIX class such as [:alpha:] inside a bracket, copied whole.
                result += String(characters[(i - 1)...close])
                i = close + 1
            } else {
                result.append(c)
                if c == "]" && !first { inClass = false }
            }
            first = false
        }
        return result
    }
}
