/// An error raised while reading cafaeval-style text inputs.
public enum CAFAInputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Line `line` of a `kind` file (ground truth, prediction, IA) could not be interpreted.
    case malformedLine(kind: String, line: Int, reason: String)
    /// A file could not be read.
    case unreadable(path: String)

    /// A human-readable message naming the offending line.
    public var description: String {
        switch self {
        case .malformedLine(let kind, let line, let reason): return "\(kind) line \(line): \(reason)"
        case .unreadable(let path): return "cannot read \(path)"
        }
    }
}
