/// A prompt's template text with `{{placeholder}}`s naming fields of a row's content, parsed once into pieces:
/// rendering an item walks them, it never searches the text again.
public struct PromptTemplate: Sendable, Equatable {
    public let text: String
    /// The distinct placeholders, in order of first appearance.
    public let placeholders: [String]
    /// Literal text and placeholder names, alternating as they appear.
    let pieces: [Piece]

    enum Piece: Sendable, Equatable {
        case literal(Substring)
        case placeholder(String)
    }

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// One pass over the UTF-8 bytes (`{` and `}` are single bytes never inside a multi-byte character).
    public init(_ text: String) throws {
        let bytes = text.utf8
        var pieces: [Piece] = []
        var names: [String] = []
        var seen: Set<String> = []
        var literalStart = bytes.startIndex
        var i = bytes.startIndex
        func isPair(_ at: String.Index, _ brace: UInt8) -> Bool {
            at != bytes.endIndex && bytes[at] == brace && bytes.index(after: at) != bytes.endIndex
                && bytes[bytes.index(after: at)] == brace
        }
        while i != bytes.endIndex {
            guard isPair(i, UInt8(ascii: "{")) else {
                i = bytes.index(after: i)
                continue
            }
            let nameStart = bytes.index(i, offsetBy: 2)
            var close = nameStart
            while close != bytes.endIndex && !isPair(close, UInt8(ascii: "}")) { close = bytes.index(after: close) }
            guard close != bytes.endIndex else { throw Problem(description: "a {{ is never closed") }
            let raw = text[nameStart..<close]
            let name = raw.trimmingSpaces
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
                name.first?.isNumber == false
            else {
                throw Problem(description: "'{{\(raw)}}' is not a placeholder name (letters, digits, _)")
            }
            if literalStart != i { pieces.append(.literal(text[literalStart..<i])) }
            pieces.append(.placeholder(name))
            if seen.insert(name).inserted { names.append(name) }
            i = bytes.index(close, offsetBy: 2)
            literalStart = i
        }
        if literalStart != bytes.endIndex { pieces.append(.literal(text[literalStart...])) }
        self.text = text
        self.placeholders = names
        self.pieces = pieces
    }

    /// The placeholders a row with these fields cannot fill.
    public func missing(from fields: [String]) -> [String] {
        let fields = Set(fields)
        return placeholders.filter { !fields.contains($0) }
    }

    /// The template with each placeholder replaced by the row's value (text as is, anything else as JSON).
    public func render(_ values: [String: String]) -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .literal(let literal): out += literal
            case .placeholder(let name): out += values[name] ?? ""
            }
        }
        return out
    }
}

extension Substring {
    /// Without the spaces (only U+0020) at both ends.
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
