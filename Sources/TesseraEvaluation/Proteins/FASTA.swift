/// One FASTA record: the header's first word is the accession (kept as written, `sp|P12345|NAME_HUMAN` included),
/// the rest of the header its description, and the residues upper-cased with line breaks and spaces removed.
public struct FASTAEntry: Sendable, Equatable {
    public let accession: String
    public let description: String
    public let residues: String

    public init(accession: String, description: String = "", residues: String) {
        (self.accession, self.description, self.residues) = (accession, description, residues)
    }
}

/// A FASTA file that cannot be read, with the line at fault.
public struct FASTAProblem: Error, Equatable, CustomStringConvertible {
    public let line: Int
    public let message: String

    public var description: String { "line \(line): \(message)" }
}

/// Parses FASTA text as query sets take it (PROTEA's `POST /query-sets`): every record needs an accession and at
/// least one residue; residues are letters (`*`, a stop, only at the end, where it is dropped); an accession may
/// come twice only with the same residues (then it is one entry). Empty lines and `;` comment lines are ignored.
public enum FASTA {
    public static let maxAccessionLength = 200
    public static let maxResidues = 100_000

    public static func parse(_ bytes: [UInt8]) throws(FASTAProblem) -> [FASTAEntry] {
        var entries: [FASTAEntry] = []
        var seen: [String: (index: Int, line: Int)] = [:]
        var header: (accession: String, description: String, line: Int)?
        var residues: [UInt8] = []
        var stopped = false

        func close() throws(FASTAProblem) {
            guard let open = header else { return }
            guard !residues.isEmpty else {
                throw FASTAProblem(line: open.line, message: "\(open.accession) has no residues")
            }
            let entry = FASTAEntry(
                accession: open.accession, description: open.description,
                residues: String(decoding: residues, as: UTF8.self))
            if let earlier = seen[entry.accession] {
                guard entries[earlier.index].residues == entry.residues else {
                    throw FASTAProblem(
                        line: open.line,
                        message: "\(entry.accession) comes again (line \(earlier.line)) with other residues")
                }
            } else {
                seen[entry.accession] = (entries.count, open.line)
                entries.append(entry)
            }
            header = nil
        }

        var number = 0
        for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            var line = rawLine[...]
            while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") || last == 9 {
                line = line.dropLast()
            }
            guard let first = line.first, first != UInt8(ascii: ";") else { continue }
            if first == UInt8(ascii: ">") {
                try close()
                let text = String(decoding: line.dropFirst(), as: UTF8.self)
                let words = text.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
                guard let accession = words.first.map(String.init), !accession.isEmpty else {
                    throw FASTAProblem(line: number, message: "a header without an accession")
                }
                guard accession.count <= maxAccessionLength,
                    !accession.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                else {
                    throw FASTAProblem(
                        line: number, message: "an accession is 1–\(maxAccessionLength) characters, none a control")
                }
                // Control characters (a NUL among them, which no text column takes) become spaces.
                let description =
                    words.count > 1
                    ? String(
                        String.UnicodeScalarView(
                            words[1].prefix(1000).unicodeScalars.map {
                                $0.properties.generalCategory == .control ? " " : $0
                            })) : ""
                header = (accession, description, number)
                residues.removeAll(keepingCapacity: true)
                stopped = false
                continue
            }
            guard let open = header else {
                throw FASTAProblem(line: number, message: "residues before the first '>' header")
            }
            for byte in line where byte != UInt8(ascii: " ") && byte != 9 {
                if stopped {
                    throw FASTAProblem(line: number, message: "\(open.accession): residues after a '*' stop")
                }
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): residues.append(byte)
                case UInt8(ascii: "a")...UInt8(ascii: "z"): residues.append(byte - 32)
                case UInt8(ascii: "*"): stopped = true
                default:
                    throw FASTAProblem(
                        line: number,
                        message: "\(open.accession): '\(String(decoding: [byte], as: UTF8.self))' is not a residue")
                }
            }
            if residues.count > maxResidues {
                throw FASTAProblem(
                    line: number, message: "\(open.accession) is longer than \(maxResidues) residues")
            }
        }
        try close()
        return entries
    }
}
