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
        let document = try bytes.withUnsafeBufferPointer { try OBOParser.parse(utf8: $0) }
        guard !document.terms.isEmpty else { throw NoTerms() }
        _ = try CAFAOntology(document: document)
        self.document = document
        self.sha256 = Array(SHA256.hash(data: bytes))
    }
}
