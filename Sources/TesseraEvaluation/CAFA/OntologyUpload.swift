import Crypto
import Foundation
import TesseraCore

/// An uploaded OBO file, parsed and checked: at least one term, and no cycle through is_a / part_of.
public struct OntologyUpload: Sendable {
    public let document: OBODocument
    public let sha256: [UInt8]

    /// `format-version/data-version`; the file's SHA-256 stands in for a missing data-version.
    public var version: String {
        "\(document.formatVersion ?? "-")/\(document.dataVersion ?? "sha256:" + sha256.hexString)"
    }

    public struct NoTerms: Error, CustomStringConvertible {
        public var description: String { "the file has no [Term] stanza" }
    }

    public init(_ bytes: [UInt8]) throws {
        let reader = Reader()
        try reader.feed(bytes[...])
        self = try reader.finish()
    }

    init(document: OBODocument, sha256: [UInt8]) throws {
        guard !document.terms.isEmpty else { throw NoTerms() }
        _ = try CAFAOntology(document: document)
        self.document = document
        self.sha256 = sha256
    }

    /// An upload read a chunk at a time, as the body arrives (called one chunk after another, never at once): the
    /// file's lines are parsed and hashed on the way, and only the parsed terms are kept.
    public final class Reader: @unchecked Sendable {
        var parser = OBOStreamParser()
        var splitter = LineSplitter()
        var hash = SHA256()

        public init() {}

        public func feed(_ chunk: ArraySlice<UInt8>) throws {
            hash.update(data: chunk)
            try splitter.feed(chunk) { line, _ in try line.withUnsafeBufferPointer { try parser.feed(line: $0) } }
        }

        public func finish() throws -> OntologyUpload {
            try splitter.finish { line, _ in try line.withUnsafeBufferPointer { try parser.feed(line: $0) } }
            return try OntologyUpload(document: parser.finish(), sha256: hash.finalize().bytes)
        }
    }
}
