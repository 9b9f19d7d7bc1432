import TesseraCore

/// A fast OBO 1.2/1.4 parser reading the header and `[Term]` stanzas the way cafaeval does.
///
/// Tag lines are split at the first `": "` (as cafaeval's `line.strip().split(": ")`), lines
/// without it are ignored, `[Typedef]` and other stanzas are skipped.
public enum OBOParser {
    /// Parses OBO text into a document, throwing `OBOParseError` on malformed input.
    public static func parse(_ text: String) throws -> OBODocument {
        var copy = text
        return try copy.withUTF8 { try parse(utf8: $0) }
    }

    /// Parses UTF-8 encoded OBO bytes into a document.
    public static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>) throws -> OBODocument {
        var parser = OBOStreamParser()
        var position = 0
        while position < bytes.count {
            var end = position
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            try parser.feed(line: UnsafeBufferPointer(rebasing: bytes[position..<end]))
            position = end + 1
        }
        return try parser.finish()
    }
}

/// `OBOParser` a line at a time: a file parsed as it arrives, never held whole.
public struct OBOStreamParser: Sendable {
    var document = OBODocument()
    var state = StanzaState()
    var firstLineOfID: [String: Int] = [:]
    var lineNumber = 0

    public init() {}

    /// One line of the file, without its line break.
    public mutating func feed(line bytes: UnsafeBufferPointer<UInt8>) throws {
        lineNumber += 1
        var start = 0
        var end = bytes.count
        while start < end && ByteText.isSpace(bytes[start]) { start += 1 }
        while end > start && ByteText.isSpace(bytes[end - 1]) { end -= 1 }
        if start == end { return }
        if bytes[start] == UInt8(ascii: "[") && bytes[end - 1] == UInt8(ascii: "]") {
            try finishStanza()
            let header = ByteText.string(bytes, start + 1, end - 1)
            state = StanzaState()
            state.kind = header == "Term" ? .term : .other
            state.startLine = lineNumber
            return
        }
        guard let colon = ByteText.findColonSpace(bytes, start, end) else { return }
        let key = ByteText.string(bytes, start, colon)
        let valueStart = colon + 2
        switch state.kind {
        case .header:
            if key == "format-version" { document.formatVersion = ByteText.string(bytes, valueStart, end) }
            if key == "data-version" { document.dataVersion = ByteText.string(bytes, valueStart, end) }
        case .other:
            return
        case .term:
            try state.apply(key: key, bytes: bytes, valueStart: valueStart, end: end, line: lineNumber)
        }
    }

    /// The document, once every line was fed.
    public mutating func finish() throws -> OBODocument {
        try finishStanza()
        return document
    }

    mutating func finishStanza() throws {
        guard state.kind == .term else { return }
        guard let id = state.term.id else { throw OBOParseError.termWithoutID(line: state.startLine) }
        if let first = firstLineOfID[id] {
            throw OBOParseError.duplicateTermID(id: id, line: state.idLine, firstLine: first)
        }
        firstLineOfID[id] = state.idLine
        document.terms.append(
            OBOTerm(
                id: id, name: state.term.name, namespace: state.term.namespace,
                definition: state.term.definition, isObsolete: state.term.isObsolete,
                altIds: state.term.altIds, isA: state.term.isA, partOf: state.term.partOf))
        state.kind = .other  // finished once
    }
}

/// Mutable per-stanza parsing state used by `OBOParser`.
struct StanzaState {
    /// Which kind of block the parser is currently in.
    enum Kind { case header, term, other }

    /// Mutable term fields collected so far.
    struct Fields {
        var id: String?
        var name = ""
        var namespace: String?
        var definition: String?
        var isObsolete = false
        var altIds: [String] = []
        var isA: [String] = []
        var partOf: [String] = []
    }

    var kind = Kind.header
    var startLine = 0
    var idLine = 0
    var term = Fields()

    /// Applies one `key: value` tag line of a `[Term]` stanza.
    mutating func apply(key: String, bytes: UnsafeBufferPointer<UInt8>, valueStart: Int, end: Int, line: Int) throws {
        switch key {
        case "id":
            if term.id != nil { throw OBOParseError.malformedTag(tag: "second id", line: line) }
            term.id = ByteText.string(bytes, valueStart, end)
            idLine = line
        case "name":
            term.name = ByteText.string(bytes, valueStart, end)
        case "namespace":
            term.namespace = ByteText.string(bytes, valueStart, end)
        case "def":
            term.definition = ByteText.quotedText(bytes, valueStart, end)
        case "is_obsolete":
            term.isObsolete = true
        case "alt_id":
            term.altIds.append(ByteText.string(bytes, valueStart, end))
        case "is_a":
            var stop = valueStart
            while stop < end && bytes[stop] != UInt8(ascii: "!") { stop += 1 }
            var s = valueStart
            while s < stop && ByteText.isSpace(bytes[s]) { s += 1 }
            while stop > s && ByteText.isSpace(bytes[stop - 1]) { stop -= 1 }
            if s == stop { throw OBOParseError.malformedTag(tag: "is_a", line: line) }
            term.isA.append(ByteText.string(bytes, s, stop))
        case "relationship":
            let tokens = ByteText.tokens(bytes, valueStart, end, limit: 2)
            guard let relation = tokens.first, relation.hasPrefix("part_of") else { return }
            guard tokens.count > 1 else { throw OBOParseError.malformedTag(tag: "relationship", line: line) }
            term.partOf.append(tokens[1])
        default:
            return
        }
    }
}
