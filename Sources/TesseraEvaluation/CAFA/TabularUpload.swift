import Foundation
import TesseraCore

/// Splits a byte stream that arrives in chunks into lines (LF or CRLF), however the chunks cut them.
public struct LineSplitter: Sendable {
    var partial: [UInt8] = []
    public private(set) var lineNumber = 0

    public init() {}

    /// Calls `line` with each complete line of `chunk` (without its end), after any part left from before.
    public mutating func feed(_ chunk: ArraySlice<UInt8>, _ line: (ArraySlice<UInt8>, Int) throws -> Void) rethrows {
        var start = chunk.startIndex
        while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
            lineNumber += 1
            if partial.isEmpty {
                try line(Self.trimCR(chunk[start..<newline]), lineNumber)
            } else {
                partial.append(contentsOf: chunk[start..<newline])
                try line(Self.trimCR(partial[...]), lineNumber)
                partial.removeAll(keepingCapacity: true)
            }
            start = newline + 1
        }
        partial.append(contentsOf: chunk[start...])
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
    public static func fields(_ line: ArraySlice<UInt8>) -> [String] {
        var ranges: [Range<Int>] = []
        fieldRanges(line, into: &ranges)
        return ranges.map { String(decoding: line[$0], as: UTF8.self) }
    }

    /// The byte ranges of the line's fields, into `ranges` (emptied first; left empty for a comment).
    static func fieldRanges(_ line: ArraySlice<UInt8>, into ranges: inout [Range<Int>]) {
        ranges.removeAll(keepingCapacity: true)
        var index = line.startIndex
        while index < line.endIndex {
            while index < line.endIndex, line[index] == 32 || line[index] == 9 { index += 1 }
            guard index < line.endIndex else { break }
            if ranges.isEmpty, line[index] == UInt8(ascii: "#") || line[index] == UInt8(ascii: "!") { return }
            let start = index
            while index < line.endIndex, line[index] != 32, line[index] != 9 { index += 1 }
            ranges.append(start..<index)
        }
    }
}

/// A file read a line at a time (`AnnotationUpload`, `PredictionUpload`).
public protocol LineUpload: Sendable {
    mutating func add(_ line: ArraySlice<UInt8>, number: Int) throws
}

/// A line upload fed a chunk at a time, as the body arrives (one chunk after another, never at once): the body is
/// parsed on the way and never held whole.
public final class ChunkedLines<Upload: LineUpload>: @unchecked Sendable {
    var upload: Upload
    var splitter = LineSplitter()

    public init(_ upload: Upload) {
        self.upload = upload
    }

    public func feed(_ chunk: ArraySlice<UInt8>) throws {
        try splitter.feed(chunk) { try upload.add($0, number: $1) }
    }

    /// The upload, once the body has ended.
    public func finish() throws -> Upload {
        try splitter.finish { try upload.add($0, number: $1) }
        return upload
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
public struct AnnotationUpload: LineUpload {
    public struct Annotation: Sendable, Equatable {
        public let target: String
        public let term: String
        public let evidence: String?
        public let qualifier: String?
    }

    /// The annotations read since the last `drain()`.
    public private(set) var annotations: [Annotation] = []
    /// Annotations kept in all (drained or not).
    public private(set) var kept = 0
    public private(set) var lines = 0
    public private(set) var excludedNot = 0
    public private(set) var unknownTerms = 0
    let known: @Sendable (String) -> Bool

    /// `known` tells whether the ontology has a term (or an alternative id).
    public init(known: @escaping @Sendable (String) -> Bool) {
        self.known = known
    }

    public mutating func add(_ line: ArraySlice<UInt8>, number: Int) throws {
        let fields = LineSplitter.fields(line)
        guard !fields.isEmpty else { return }
        lines += 1
        guard fields.count >= 2, fields.count <= 4 else {
            throw UploadProblem(
                line: number,
                "expected target, term and optionally evidence code and qualifier; found \(fields.count) fields")
        }
        let qualifier = fields.count > 3 ? fields[3] : nil
        if let qualifier, qualifier.split(separator: "|").contains(where: { $0.uppercased() == "NOT" }) {
            excludedNot += 1
            return
        }
        let term = fields[1]
        guard known(term) else {
            unknownTerms += 1
            return
        }
        annotations.append(
            Annotation(
                target: fields[0], term: term, evidence: fields.count > 2 ? fields[2] : nil, qualifier: qualifier))
        kept += 1
    }

    /// The annotations read since the last call, handed over (the counts stay): a large set passes through in
    /// batches instead of being held whole.
    public mutating func drain() -> [Annotation] {
        defer { annotations = [] }
        return annotations
    }
}

/// Scored predictions read from TSV: `target term score`, score in (0, 1]. A term predicted twice for a target
/// keeps its highest score (as cafaeval does); terms the ontology does not know are counted and left out. The
/// header and footer lines of a CAFA submission (AUTHOR, MODEL, KEYWORDS, ACCURACY, END) are skipped.
public struct PredictionUpload: LineUpload {
    static let headers: Set<String> = ["AUTHOR", "MODEL", "KEYWORDS", "ACCURACY", "END"]

    /// One target's terms in the order their first lines came (cafaeval's `-max_terms` keeps a target's first
    /// terms), each with its highest score.
    public struct TargetScores: Sendable {
        public private(set) var terms: [String] = []
        public private(set) var scores: [Double] = []
        /// Where each term is, kept only for a target whose lines did not all come together: while a target's
        /// lines arrive one after another (as files list them) the upload's one shared index serves, so a set
        /// holds two arrays a target and no dictionary (a dictionary per target more than doubled its memory).
        var index: [String: Int]?

        /// Adds a line's term and score, `positions` being where this target's terms are; true when the term is
        /// new to the target.
        mutating func add(_ term: String, _ score: Double, positions: inout [String: Int]) -> Bool {
            if let i = positions[term] {
                if score > scores[i] { scores[i] = score }
                return false
            }
            positions[term] = terms.count
            terms.append(term)
            scores.append(score)
            return true
        }

        /// Its own index, for a target seen again after others' lines.
        mutating func ownIndex() -> [String: Int] {
            if let index { return index }
            return Dictionary(uniqueKeysWithValues: terms.enumerated().map { ($1, $0) })
        }
    }

    /// Every target's terms and scores.
    public var byTarget: [String: TargetScores] {
        guard let current else { return stored }
        var all = stored
        all[current] = currentScores
        return all
    }
    public private(set) var lines = 0
    public private(set) var predictions = 0
    public private(set) var unknownTerms = 0
    let known: @Sendable (String) -> Bool
    var ranges: [Range<Int>] = []
    /// The targets whose lines are done with (until one comes again).
    var stored: [String: TargetScores] = [:]
    /// The target whose lines are arriving (its next line is known by its bytes, without making a string), its
    /// terms and scores (out of `stored` meanwhile: one dictionary access a target, not one a line) and where its
    /// terms are (shared: emptied for the next target).
    var current: String?
    var currentScores = TargetScores()
    var currentPositions: [String: Int] = [:]

    /// Records a term's score for a target; true when the term is new to it.
    mutating func record(_ target: String, _ term: String, _ score: Double) -> Bool {
        if target != current { switchTarget(to: target) }
        return currentScores.add(term, score, positions: &currentPositions)
    }

    /// Puts the current target's scores with the others and takes out `target`'s: new, or seen before with other
    /// targets' lines between, when it keeps an index of its own from then on (kept up to date when it is left).
    mutating func switchTarget(to target: String) {
        if let current {
            if currentScores.index != nil { currentScores.index = currentPositions }
            stored[current] = currentScores
        }
        current = target
        currentPositions.removeAll(keepingCapacity: true)
        if var seen = stored.removeValue(forKey: target) {
            let index = seen.ownIndex()
            seen.index = index
            currentPositions = index
            currentScores = seen
        } else {
            currentScores = TargetScores()
        }
    }

    public init(known: @escaping @Sendable (String) -> Bool) {
        self.known = known
    }

    public mutating func add(_ line: ArraySlice<UInt8>, number: Int) throws {
        guard let fields = try Self.fields(of: line, number: number, ranges: &ranges) else { return }
        lines += 1
        let term = String(decoding: line[fields.term], as: UTF8.self)
        guard known(term) else {
            unknownTerms += 1
            return
        }
        let targetBytes = line[fields.target]
        let score = fields.score
        let target =
            current.flatMap { $0.utf8.elementsEqual(targetBytes) ? $0 : nil }
            ?? String(decoding: targetBytes, as: UTF8.self)
        if record(target, term, score) { predictions += 1 }
    }

    /// A prediction line's target and term (byte ranges, `ranges` their scratch space) and score; nil for a comment
    /// or a submission's header or footer. Throws for a line of other fields or a score outside (0, 1].
    static func fields(of line: ArraySlice<UInt8>, number: Int, ranges: inout [Range<Int>]) throws
        -> (target: Range<Int>, term: Range<Int>, score: Double)?
    {
        LineSplitter.fieldRanges(line, into: &ranges)
        guard !ranges.isEmpty else { return nil }
        if ranges.count != 3, headers.contains(String(decoding: line[ranges[0]], as: UTF8.self)) { return nil }
        guard ranges.count == 3 else {
            throw UploadProblem(line: number, "expected target, term and score; found \(ranges.count) fields")
        }
        let scoreRange = ranges[2]
        let parsed = line.withUnsafeBufferPointer { buffer in
            CAFAScoreParser.parse(
                buffer, scoreRange.lowerBound - line.startIndex, scoreRange.upperBound - line.startIndex)
        }
        guard let score = parsed, score > 0, score <= 1 else {
            throw UploadProblem(
                line: number,
                "the score '\(String(decoding: line[scoreRange].prefix(40), as: UTF8.self))' is not a number in (0, 1]")
        }
        return (ranges[0], ranges[1], score)
    }

    /// A prediction made here rather than read from a file (nearest-neighbour transfer), counted as a line of its
    /// own; the score must lie in (0, 1] and the term be known.
    public mutating func add(target: String, term: String, score: Double) {
        precondition(score > 0 && score <= 1 && known(term))
        lines += 1
        if record(target, term, score) { predictions += 1 }
    }
}

/// An information-accretion file: `term value` lines (later lines win), as cafaeval's `-ia` reads them.
public enum InformationAccretion {
    public static func parse(_ text: String) throws -> [String: Double] {
        var weights: [String: Double] = [:]
        var splitter = LineSplitter()
        var ranges: [Range<Int>] = []
        func add(_ line: ArraySlice<UInt8>, _ number: Int) throws {
            LineSplitter.fieldRanges(line, into: &ranges)
            guard !ranges.isEmpty else { return }
            let valueRange = ranges[1...].first ?? ranges[0]
            let value = line.withUnsafeBufferPointer { buffer in
                CAFAScoreParser.parse(
                    buffer, valueRange.lowerBound - line.startIndex, valueRange.upperBound - line.startIndex)
            }
            guard ranges.count == 2, let value else { throw UploadProblem(line: number, "expected `term value`") }
            weights[String(decoding: line[ranges[0]], as: UTF8.self)] = value
        }
        try splitter.feed(ArraySlice(text.utf8), add)
        try splitter.finish(add)
        return weights
    }
}
