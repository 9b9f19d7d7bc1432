import Foundation

/// Splits a byte stream that arrives in chunks into lines (LF or CRLF), however the chunks cut them.
public struct LineSplitter: Sendable {
    var partial: [UInt8] = []
    public private(set) var lineNumber = 0

    public init() {}

    /// Calls `line` with each complete line of `chunk` (without its end), after any part left from before.
    public mutating func feed(_ chunk: some Collection<UInt8>, _ line: (ArraySlice<UInt8>, Int) throws -> Void) rethrows {
        var start = chunk.startIndex
        var index = chunk.startIndex
        while index != chunk.endIndex {
            if chunk[index] == UInt8(ascii: "\n") {
                lineNumber += 1
                if partial.isEmpty {
                    try line(Self.trimCR(ArraySlice(chunk[start..<index])), lineNumber)
                } else {
                    partial.append(contentsOf: chunk[start..<index])
                    try line(Self.trimCR(partial[...]), lineNumber)
                    partial.removeAll(keepingCapacity: true)
                }
                start = chunk.index(after: index)
            }
            index = chunk.index(after: index)
        }
        partial.append(contentsOf: chunk[start..<chunk.endIndex])
    }

    /// Calls `line` with the last line when the stream did not end with a line break.
    public mutating func finish(_ line: (ArraySlice<UInt8>, Int) throws -> Void) rethrows {
        guard !partial.isEmpty else { return }
        lineNumber += 1
        try line(Self.trimCR(partial[...]), lineNumber)
        partial.removeAll()
    }

    static func trimCR(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        line.last == UInt8(ascii: "\r") ? line.dropLast() : line
    }

    /// The fields of a line split on spaces and tabs (cafaeval's `line.split()`); none for a comment (`#`, `!`).
    public static func fields(_ line: ArraySlice<UInt8>) -> [Substring] {
        guard let first = line.first(where: { $0 != 32 && $0 != 9 }), first != UInt8(ascii: "#"), first != UInt8(ascii: "!") else { return [] }
        return String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" })
    }
}

/// A problem with one line of an uploaded file.
public struct UploadProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public let line: Int
    public let message: String

    public init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

/// Ground-truth annotations read from TSV: `target term [evidence [qualifier]]`. NOT-qualified annotations are
/// left out (and counted), as are terms the ontology does not know.
public struct AnnotationUpload: Sendable {
    public struct Annotation: Sendable, Equatable {
        public let target: String
        public let term: String
        public let evidence: String?
        public let qualifier: String?
    }

    public private(set) var annotations: [Annotation] = []
    public private(set) var lines = 0
    public private(set) var excludedNot = 0
    public private(set) var unknownTerms = 0
    let known: @Sendable (String) -> Bool

    /// `known` tells whether the ontology has a term (or an alternative id).
    public init(known: @escaping @Sendable (String) -> Bool) {
        self.known = known
    }

    public var targets: Int { Set(annotations.map(\.target)).count }

    public mutating func add(_ line: ArraySlice<UInt8>, number: Int) throws {
        let fields = LineSplitter.fields(line)
        guard !fields.isEmpty else { return }
        lines += 1
        guard fields.count >= 2, fields.count <= 4 else {
            throw UploadProblem(line: number, "expected target, term and optionally evidence code and qualifier; found \(fields.count) fields")
        }
        let qualifier = fields.count > 3 ? String(fields[3]) : nil
        if let qualifier, qualifier.split(separator: "|").contains(where: { $0.uppercased() == "NOT" }) {
            excludedNot += 1
            return
        }
        let term = String(fields[1])
        guard known(term) else {
            unknownTerms += 1
            return
        }
        annotations.append(Annotation(
            target: String(fields[0]), term: term, evidence: fields.count > 2 ? String(fields[2]) : nil, qualifier: qualifier))
    }
}

/// Scored predictions read from TSV: `target term score`, score in (0, 1]. A term predicted twice for a target
/// keeps its highest score (as cafaeval does); terms the ontology does not know are counted and left out. The
/// header and footer lines of a CAFA submission (AUTHOR, MODEL, KEYWORDS, ACCURACY, END) are skipped.
public struct PredictionUpload: Sendable {
    static let headers: Set<String> = ["AUTHOR", "MODEL", "KEYWORDS", "ACCURACY", "END"]

    public private(set) var byTarget: [String: [String: Double]] = [:]
    public private(set) var lines = 0
    public private(set) var predictions = 0
    public private(set) var unknownTerms = 0
    let known: @Sendable (String) -> Bool

    public init(known: @escaping @Sendable (String) -> Bool) {
        self.known = known
    }

    public mutating func add(_ line: ArraySlice<UInt8>, number: Int) throws {
        let fields = LineSplitter.fields(line)
        guard !fields.isEmpty else { return }
        if Self.headers.contains(String(fields[0])) && fields.count != 3 { return }
        lines += 1
        guard fields.count == 3 else { throw UploadProblem(line: number, "expected target, term and score; found \(fields.count) fields") }
        guard let score = Double(fields[2]), score > 0, score <= 1 else {
            throw UploadProblem(line: number, "the score '\(fields[2].prefix(40))' is not a number in (0, 1]")
        }
        let term = String(fields[1])
        guard known(term) else {
            unknownTerms += 1
            return
        }
        let target = String(fields[0])
        if let previous = byTarget[target, default: [:]].updateValue(score, forKey: term) {
            if previous > score { byTarget[target]![term] = previous }
        } else {
            predictions += 1
        }
    }
}
