import Crypto
import Foundation

/// A stored audit record's fields as PostgreSQL renders them to text (NULL as nil), in chain order.
public struct AuditRow: Sendable {
    public let seq: Int64
    public let fields: [String?]
    public let prevHash: [UInt8]
    public let hash: [UInt8]

    public init(seq: Int64, fields: [String?], prevHash: [UInt8], hash: [UInt8]) {
        self.seq = seq
        self.fields = fields
        self.prevHash = prevHash
        self.hash = hash
    }
}

/// The chain's canonical encoding (the same bytes as the database's `audit_canonical`) and its check.
public enum AuditChain {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    /// `tessera-audit-v1` then one line per field: `<utf-8 length>:<value>`, or `-` for NULL.
    public static func canonical(_ fields: [String?]) -> [UInt8] {
        var out = Array("tessera-audit-v1".utf8)
        for field in fields {
            out.append(0x0A)
            if let field {
                let bytes = Array(field.utf8)
                out += Array(String(bytes.count).utf8) + [UInt8(ascii: ":")] + bytes
            } else {
                out.append(UInt8(ascii: "-"))
            }
        }
        return out
    }

    public static func hash(prev: [UInt8], fields: [String?]) -> [UInt8] {
        SHA256.hash(data: prev + canonical(fields)).bytes
    }

    public enum Verdict: Sendable, Equatable {
        /// Every record checked out.
        case intact(count: Int)
        /// The first record whose number, link or hash is wrong.
        case broken(seq: Int64, reason: String)
    }

    /// Walks rows in `seq` order from the start of a chain: numbering without gaps, each `prev_hash` the previous
    /// `hash`, each `hash` the hash of its own fields. `start` allows continuing after a retained anchor.
    public struct Walker: Sendable {
        var expectedSeq: Int64
        var previous: [UInt8]
        public private(set) var count = 0
        public private(set) var verdict: Verdict?

        public init(startSeq: Int64 = 1, previous: [UInt8] = AuditChain.genesis) {
            self.expectedSeq = startSeq
            self.previous = previous
        }

        /// Checks one row; after the first break the verdict stays.
        public mutating func check(_ row: AuditRow) {
            guard verdict == nil else { return }
            if row.seq != expectedSeq {
                verdict = .broken(seq: expectedSeq, reason: "record \(expectedSeq) is missing (next is \(row.seq))")
                return
            }
            if row.prevHash != previous {
                verdict = .broken(seq: row.seq, reason: "prev_hash does not match record \(row.seq - 1)")
                return
            }
            if AuditChain.hash(prev: row.prevHash, fields: row.fields) != row.hash {
                verdict = .broken(
                    seq: row.seq, reason: "record \(row.seq) was changed (its hash does not match its content)")
                return
            }
            previous = row.hash
            expectedSeq += 1
            count += 1
        }

        public var result: Verdict { verdict ?? .intact(count: count) }
    }
}
