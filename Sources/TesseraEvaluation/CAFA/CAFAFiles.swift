import TesseraCore

/// cafaeval's input files, from their bytes, for an evaluation that stores nothing (`tessera cafaeval`), by the
/// rules of Tessera's uploads: an ontology as `OntologyUpload` checks it, truth and known annotations as
/// `AnnotationUpload` reads them, prediction lines as `PredictionUpload` checks them. Errors are those of the
/// uploads (`OBOParseError`, `CAFAOntologyError`, `UploadProblem` naming the line).
public enum CAFAFiles {
    /// A prediction file read into the evaluator's table: every line in its order (a term seen twice for a target,
    /// or unknown to the ontology, is left to the evaluator, which keeps the highest score and drops the unknown).
    public struct Predictions: Sendable {
        public let table: CAFAPredictionTable
        /// Lines other than comments and submission headers.
        public let lines: Int
    }

    /// An OBO file's ontology: at least one term, no cycle through is_a / part_of.
    public static func ontology(_ bytes: [UInt8]) throws -> CAFAOntology {
        var parser = OBOStreamParser()
        try lines(bytes) { line, _ in try line.withUnsafeBufferPointer { try parser.feed(line: $0) } }
        let document = try parser.finish()
        guard !document.terms.isEmpty else { throw OntologyUpload.NoTerms() }
        return try CAFAOntology(document: document)
    }

    /// Annotation lines (`target term [evidence [qualifier]]`) in their order: NOT-qualified ones and terms the
    /// ontology does not know left out, as an annotation set's upload leaves them.
    public static func annotations(_ bytes: [UInt8], ontology: CAFAOntology) throws -> CAFATruthTable {
        var upload = AnnotationUpload(known: { ontology.resolveTruthTerm($0) != nil })
        try lines(bytes) { try upload.add($0, number: $1) }
        var table = CAFATruthTable()
        for annotation in upload.annotations { table.append(target: annotation.target, term: annotation.term) }
        return table
    }

    /// A prediction file's lines (`target term score`, the score in (0, 1]; a CAFA submission's AUTHOR, MODEL,
    /// KEYWORDS, ACCURACY and END lines skipped), read without the ontology: the evaluator resolves the terms.
    public static func predictions(_ bytes: [UInt8]) throws -> Predictions {
        var table = CAFAPredictionTable(capacity: bytes.count / 24)
        var ranges: [Range<Int>] = []
        var count = 0
        var current: (target: String, index: Int32)?
        try lines(bytes) { line, number in
            guard let fields = try PredictionUpload.fields(of: line, number: number, ranges: &ranges) else { return }
            count += 1
            // A file lists a target's lines together: its index is looked up once, while its bytes repeat.
            let targetBytes = line[fields.target]
            let target: Int32
            if let current, current.target.utf8.elementsEqual(targetBytes) {
                target = current.index
            } else {
                let name = String(decoding: targetBytes, as: UTF8.self)
                target = table.index(ofTarget: name)
                current = (name, target)
            }
            table.append(
                target: target, term: String(decoding: line[fields.term], as: UTF8.self), score: fields.score)
        }
        return Predictions(table: table, lines: count)
    }

    /// A terms-of-interest file: the first field of each line that has one (as cafaeval-protea reads `-toi`).
    public static func termsOfInterest(_ bytes: [UInt8]) -> [String] {
        var terms: [String] = []
        lines(bytes) { line, _ in
            if let first = LineSplitter.fields(line).first { terms.append(first) }
        }
        return terms
    }

    /// Calls `body` with each line of `bytes` and its number.
    static func lines(_ bytes: [UInt8], _ body: (ArraySlice<UInt8>, Int) throws -> Void) rethrows {
        var splitter = LineSplitter()
        try splitter.feed(bytes[...], body)
        try splitter.finish(body)
    }
}
