import TesseraCore

/// An error raised by `OBOParser` for malformed input, carrying the 1-based line number.
public enum OBOParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A `[Term]` stanza starting at `line` has no `id:` tag.
    case termWithoutID(line: Int)
    /// The term identifier `id` at `line` was already defined at `firstLine`.
    case duplicateTermID(id: String, line: Int, firstLine: Int)
    /// A tag at `line` has a value that cannot be interpreted.
    case malformedTag(tag: String, line: Int)

    /// A human-readable message naming the offending line.
    public var description: String {
        switch self {
        case .termWithoutID(let line): return "OBO line \(line): [Term] stanza without an id"
        case .duplicateTermID(let id, let line, let firstLine):
            return "OBO line \(line): duplicate term id \(id) (first defined at line \(firstLine))"
        case .malformedTag(let tag, let line): return "OBO line \(line): malformed \(tag) value"
        }
    }
}
