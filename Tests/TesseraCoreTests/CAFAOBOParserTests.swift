import Crypto
import Testing

@testable import TesseraCore
@testable import TesseraEvaluation

/// A small OBO text exercising header, defs, alt ids, part_of, obsolete terms and a Typedef.
let sampleOBO = """
    format-version: 1.2
    data-version: releases/2024-01-17
    ontology: go

    [Term]
    id: GO:0000001
    name: root process
    namespace: biological_process
    def: "The root: everything \\"quoted\\"." [GOC:x, PMID:1]

    [Term]
    id: GO:0000002
    name: child
    namespace: biological_process
    alt_id: GO:0000902
    alt_id: GO:0000903
    def: "A child." []
    is_a: GO:0000001 ! root process

    [Term]
    id: GO:0000003
    name: grandchild
    namespace: biological_process
    is_a: GO:0000002 ! child
    relationship: part_of GO:0000001 ! root process
    relationship: regulates GO:0000002 ! child

    [Term]
    id: GO:0000004
    name: obsolete thing
    namespace: biological_process
    is_obsolete: true

    [Term]
    id: GO:0000005
    name: function root
    namespace: molecular_function
    relationship: part_of GO:0000003 ! cross namespace

    [Typedef]
    id: part_of
    name: part of
    namespace: biological_process

    """

@Test func parsesHeaderAndTerms() throws {
    let doc = try OBOParser.parse(sampleOBO)
    #expect(doc.formatVersion == "1.2")
    #expect(doc.dataVersion == "releases/2024-01-17")
    #expect(doc.terms.map(\.id) == ["GO:0000001", "GO:0000002", "GO:0000003", "GO:0000004", "GO:0000005"])
    #expect(doc.terms[0].definition == "The root: everything \"quoted\".")
    #expect(doc.terms[0].name == "root process")
    #expect(doc.terms[1].altIds == ["GO:0000902", "GO:0000903"])
    #expect(doc.terms[1].isA == ["GO:0000001"])
    #expect(doc.terms[2].isA == ["GO:0000002"])
    #expect(doc.terms[2].partOf == ["GO:0000001"])
    #expect(doc.terms[3].isObsolete)
    #expect(!doc.terms[2].isObsolete)
    #expect(doc.terms[4].namespace == "molecular_function")
}

@Test func rejectsTermWithoutID() {
    let text = "format-version: 1.2\n\n[Term]\nid: A:1\nnamespace: x\n\n[Term]\nname: nameless\nnamespace: x\n"
    #expect(throws: OBOParseError.termWithoutID(line: 7)) { try OBOParser.parse(text) }
}

@Test func rejectsDuplicateIDs() {
    let text = "[Term]\nid: A:1\nnamespace: x\n\n[Term]\nid: A:1\nnamespace: x\n"
    #expect(throws: OBOParseError.duplicateTermID(id: "A:1", line: 6, firstLine: 2)) { try OBOParser.parse(text) }
}

@Test func rejectsPartOfWithoutTarget() {
    let text = "[Term]\nid: A:1\nnamespace: x\nrelationship: part_of\n"
    #expect(throws: OBOParseError.malformedTag(tag: "relationship", line: 4)) { try OBOParser.parse(text) }
    // Like cafaeval (`v.split()[1]`), a comment in place of the target is taken verbatim (and later dropped).
    let odd = "[Term]\nid: A:1\nnamespace: x\nrelationship: part_of ! c\n"
    #expect((try? OBOParser.parse(odd))?.terms.first?.partOf == ["!"])
}

/// Fed a chunk at a time (as an upload arrives, chunks cutting lines and CRLFs anywhere), the parser reads the same
/// document as from the whole text, and the upload's SHA-256 is the file's.
@Test(arguments: [1, 2, 7, 64, 100_000])
func aChunkedUploadReadsTheSameDocument(chunk: Int) throws {
    for text in [sampleOBO, sampleOBO.replacingOccurrences(of: "\n", with: "\r\n")] {
        let bytes = Array(text.utf8)
        let whole = try OntologyUpload(bytes)
        let reader = OntologyUpload.Reader()
        var start = 0
        while start < bytes.count {
            try reader.feed(bytes[start..<min(bytes.count, start + chunk)])
            start += chunk
        }
        let chunked = try reader.finish()
        #expect(chunked.document == whole.document)
        #expect(chunked.document == (try OBOParser.parse(text)))
        #expect(chunked.sha256 == Array(SHA256.hash(data: bytes)))
    }
    // Errors name the same line either way.
    let reader = OntologyUpload.Reader()
    try reader.feed(ArraySlice("[Term]\nid: A:1\nnamespace: x\n\n[Term]\nid: A".utf8))
    #expect(throws: OBOParseError.duplicateTermID(id: "A:1", line: 6, firstLine: 2)) {
        try reader.feed(ArraySlice(":1\nnamespace: x\n".utf8))
        _ = try reader.finish()
    }
}
