import Testing

@testable import TesseraCore

@Suite struct AuditChainTests {
    @Test func canonicalEncodingIsLengthPrefixedSoNoValueCanForgeASeparator() {
        #expect(AuditChain.canonical(["ab", nil, ""]) == Array("tessera-audit-v1\n2:ab\n-\n0:".utf8))
        // "a\n1:b" as one field differs from "a" and "b" as two.
        #expect(AuditChain.canonical(["a\n1:b"]) != AuditChain.canonical(["a", "b"]))
        #expect(AuditChain.canonical(["é"]) == Array("tessera-audit-v1\n2:é".utf8))
    }

    func chain(_ n: Int) -> [AuditRow] {
        var rows: [AuditRow] = []
        var prev = AuditChain.genesis
        for seq in 1...n {
            let fields: [String?] = [String(seq), nil, "event \(seq)"]
            let hash = AuditChain.hash(prev: prev, fields: fields)
            rows.append(AuditRow(seq: Int64(seq), fields: fields, prevHash: prev, hash: hash))
            prev = hash
        }
        return rows
    }

    func walk(_ rows: [AuditRow]) -> AuditChain.Verdict {
        var walker = AuditChain.Walker()
        for row in rows { walker.check(row) }
        return walker.result
    }

    @Test func anIntactChainVerifies() {
        #expect(walk(chain(5)) == .intact(count: 5))
        #expect(walk([]) == .intact(count: 0))
    }

    @Test func anEditedRecordIsFound() {
        var rows = chain(5)
        rows[2] = AuditRow(seq: 3, fields: ["3", nil, "edited"], prevHash: rows[2].prevHash, hash: rows[2].hash)
        #expect(walk(rows) == .broken(seq: 3, reason: "record 3 was changed (its hash does not match its content)"))
    }

    @Test func aRemovedRecordIsFound() {
        var rows = chain(5)
        rows.remove(at: 1)
        #expect(walk(rows) == .broken(seq: 2, reason: "record 2 is missing (next is 3)"))
    }

    @Test func aRehashedEditBreaksTheNextLink() {
        var rows = chain(4)
        let forged = AuditChain.hash(prev: rows[1].prevHash, fields: ["2", nil, "forged"])
        rows[1] = AuditRow(seq: 2, fields: ["2", nil, "forged"], prevHash: rows[1].prevHash, hash: forged)
        #expect(walk(rows) == .broken(seq: 3, reason: "prev_hash does not match record 2"))
    }
}
