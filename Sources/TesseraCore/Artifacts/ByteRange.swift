import Foundation

/// The `Range` header of a download (RFC 9110 §14.2), for one byte range: `bytes=first-last`, `bytes=first-` or
/// `bytes=-suffix`. Anything else — several ranges, another unit, text that does not parse — is ignored and the
/// whole representation sent, as the RFC allows a server to.
public enum ByteRange: Equatable, Sendable {
    case whole
    case part(Range<Int>)
    /// No byte of the range exists (416, with `Content-Range: bytes */size`).
    case unsatisfiable

    public static func parse(_ header: String?, size: Int) -> ByteRange {
        guard let header, header.hasPrefix("bytes="), header.utf8.count <= 256 else { return .whole }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        guard first.allSatisfy(\.isASCIIDigit), last.allSatisfy(\.isASCIIDigit), !(first.isEmpty && last.isEmpty)
        else { return .whole }
        if first.isEmpty {
            // The last `suffix` bytes; all of them when the blob is shorter.
            guard let suffix = Int(last) else { return .part(0..<size) }  // more digits than an Int: all of it
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .part(max(0, size - suffix)..<size)
        }
        guard let start = Int(first) else { return .unsatisfiable }  // beyond any blob
        let end = last.isEmpty ? size - 1 : min(Int(last) ?? Int.max, size - 1)
        if !last.isEmpty, let stated = Int(last), stated < start { return .whole }  // invalid: ignored
        guard start < size else { return .unsatisfiable }
        return .part(start..<(end + 1))
    }
}
