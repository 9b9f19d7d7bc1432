import TesseraCore

/// A parsed OBO file: header values plus all `[Term]` stanzas in file order.
public struct OBODocument: Sendable, Hashable, Codable {
    /// The `format-version:` header value, if present.
    public var formatVersion: String?
    /// The `data-version:` header value, if present.
    public var dataVersion: String?
    /// All `[Term]` stanzas in file order (obsolete ones included).
    public var terms: [OBOTerm]

    /// Creates a document from its parts.
    public init(formatVersion: String? = nil, dataVersion: String? = nil, terms: [OBOTerm] = []) {
        self.formatVersion = formatVersion
        self.dataVersion = dataVersion
        self.terms = terms
    }
}
