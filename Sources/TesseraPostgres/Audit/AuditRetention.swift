import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// The one privileged way records leave the audit log: records older than a cutoff, at the start of one org's
/// chain or the platform's, after that part of the chain was verified. A signed anchor record (`audit.anchor`: how far was
/// purged and the hash there, HMAC-signed under the master key) is appended, so the rest still verifies.
public struct AuditRetention: Sendable {
    static let purpose = "tessera-audit-anchor-v1"
    let box: SecretBox
    let logger: Logger

    public init(box: SecretBox, logger: Logger) {
        self.box = box
        self.logger = logger
    }

    public enum Outcome: Sendable, Equatable {
        case purged(through: Int64)
        case nothingOlder
        case refused(String)
    }

    /// Sets how many days the org keeps its audit records, with its record in the same transaction.
    public func setRetention(org: UUID, days: Int, by actor: AuditActor, on connection: PostgresConnection) async throws
    {
        try await connection.withTransaction(logger: logger) { tx in
            try await tx.sql(
                """
                INSERT INTO org_settings (org_id, audit_retention_days) VALUES (\(org), \(days))
                ON CONFLICT (org_id) DO UPDATE SET audit_retention_days = EXCLUDED.audit_retention_days
                """, logger: logger)
            try await AuditStore(logger: logger).append(
                actor.event(
                    org: org, action: .auditRetentionSet, entityType: "org", entityID: org.uuidString.lowercased(),
                    metadata: ["days": String(days)]),
                on: tx)
        }
    }

    /// The org's retention in days, if set.
    public func retentionDays(org: UUID, on connection: PostgresConnection) async throws -> Int? {
        try await connection.sql(
            "SELECT audit_retention_days FROM org_settings WHERE org_id = \(org)", logger: logger
        )
        .collect().first?.decode(Int?.self) ?? nil
    }

    /// Purges the records older than `cutoff` of the org's chain, or of the platform's when `org` is nil (logins,
    /// authentication failures, orgs created); needs the admin role (the DELETE privilege).
    public func purge(org: UUID?, olderThan cutoff: Date, on connection: PostgresConnection) async throws -> Outcome {
        let chain = Self.chainName(org)
        return try await connection.withTransaction(logger: logger) { tx -> Outcome in
            try await tx.sql(
                "SELECT pg_advisory_xact_lock(\(AdvisoryLock.auditRetention), hashtext(\(chain)))", logger: logger)
            let last = try await tx.sql(
                """
                SELECT seq, hash FROM audit_logs
                WHERE ((\(org)::uuid IS NULL AND org_id IS NULL) OR org_id = \(org))
                  AND occurred_at < \(cutoff) AND action <> 'audit.anchor'
                ORDER BY seq DESC LIMIT 1
                """, logger: logger
            ).collect().first
            guard let last else { return .nothingOlder }
            let (through, hash) = try last.decode((Int64, ByteBuffer).self)
            switch try await AuditStore(logger: logger).verify(org: org, box: box, on: tx) {
            case .broken(let seq, let reason) where seq <= through:
                return .refused("the chain is broken at \(seq) (\(reason)); nothing purged")
            default:
                break
            }
            // The anchor goes first, chained after the newest record, so the chain runs on unbroken after the cut.
            let hashHex = Array(buffer: hash).hexString
            let message = Self.message(org: org, through: through, hash: hashHex)
            try await AuditStore(logger: logger).append(
                AuditEvent(
                    org: org, actorKind: .system, actorDisplay: "retention", action: .auditAnchor,
                    entityType: org == nil ? "platform" : "org", entityID: org?.uuidString.lowercased(),
                    metadata: [
                        "purged_through": String(through), "anchor_hash": hashHex,
                        "cutoff": cutoff.formatted(.iso8601), "signature": box.sign(message, purpose: Self.purpose),
                    ]),
                on: tx)
            try await tx.sql("SET LOCAL tessera.audit_purge = 'on'", logger: logger)
            try await tx.sql(
                """
                DELETE FROM audit_logs
                WHERE ((\(org)::uuid IS NULL AND org_id IS NULL) OR org_id = \(org)) AND seq <= \(through)
                """, logger: logger)
            return .purged(through: through)
        }
    }

    /// The chain's name in anchors and locks: the org's id, or `platform`.
    static func chainName(_ org: UUID?) -> String { org?.uuidString.lowercased() ?? "platform" }

    static func message(org: UUID?, through: Int64, hash: String) -> String {
        "\(chainName(org))|\(through)|\(hash)"
    }
}

extension AuditStore {
    /// Verifies a chain that may start after a purge: the first remaining record must follow a signed anchor
    /// (checked with the master key) that names the hash it continues from.
    public func verify(org: UUID?, box: SecretBox, on connection: PostgresConnection) async throws -> AuditChain.Verdict
    {
        let first =
            try await connection.sql(
                "SELECT min(seq) FROM audit_logs WHERE (\(org)::uuid IS NULL AND org_id IS NULL) OR org_id = \(org)",
                logger: logger
            ).collect().first?.decode(Int64?.self) ?? nil
        guard let first, first > 1 else { return try await verify(org: org, on: connection) }
        let anchors = try await connection.sql(
            """
            SELECT metadata->>'purged_through', metadata->>'anchor_hash', metadata->>'signature' FROM audit_logs
            WHERE ((\(org)::uuid IS NULL AND org_id IS NULL) OR org_id = \(org)) AND action = 'audit.anchor'
            ORDER BY seq DESC
            """, logger: logger
        ).collect()
        for row in anchors {
            let (through, hash, signature) = try row.decode((String?, String?, String?).self)
            guard let through, let seq = Int64(through), seq == first - 1, let hash, let signature else { continue }
            guard
                box.verify(
                    signature: signature, of: AuditRetention.message(org: org, through: seq, hash: hash),
                    purpose: AuditRetention.purpose),
                let previous = [UInt8](hex: hash)
            else { return .broken(seq: first, reason: "the anchor before record \(first) has a wrong signature") }
            return try await verify(org: org, startingAt: first, previous: previous, on: connection)
        }
        return .broken(seq: 1, reason: "records 1 to \(first - 1) are missing and no signed anchor accounts for them")
    }
}
