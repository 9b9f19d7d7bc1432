import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// A work item handed to a worker: the row and the prompt formatted with the row's content.
public struct ClaimedItem: Sendable {
    public let workItemID: UUID
    public let rowID: UUID
    public let prompt: String
}

/// One worker result for a leased work item.
public struct SubmittedResult: Sendable {
    public let workItemID: UUID
    public let output: String?
    public let latencySeconds: Double?
    public let succeeded: Bool
    public let error: String?

    public init(workItemID: UUID, output: String?, latencySeconds: Double?, succeeded: Bool, error: String?) {
        self.workItemID = workItemID
        self.output = output
        self.latencySeconds = latencySeconds
        self.succeeded = succeeded
        self.error = error
    }
}

/// The work queue of a run: leases handed out with `FOR UPDATE SKIP LOCKED`, so no item goes to two workers.
extension PredictionRepository {
    /// Leases up to `limit` pending items for `leaseSeconds`; expired leases of the run return to pending first.
    public func claim(run: UUID, limit: Int, leaseSeconds: Int, audit: AuditEvent) async throws -> (lease: UUID, expires: Date, items: [ClaimedItem]) {
        try await databases.withConnection(org: org) { [logger] connection in
            try await connection.withTransaction(logger: logger) { tx in
                guard let (status, template) = try await tx.query(
                    "SELECT r.status::text, p.template FROM prediction_runs r JOIN prompts p ON p.id = r.prompt_id WHERE r.id = \(run)",
                    logger: logger
                ).collect().first?.decode((String, String).self) else { throw TesseraError.notFound("no such run") }
                guard status == "pending" || status == "running" else {
                    throw TesseraError.conflict("the run is \(status); it hands out no more work")
                }
                // The reaper: leases that ran out go back to the queue.
                try await tx.query(
                    """
                    UPDATE work_items SET status = 'pending', lease_id = NULL, lease_expires_at = NULL
                    WHERE run_id = \(run) AND status = 'leased' AND lease_expires_at < now()
                    """, logger: logger)
                let lease = UUID()
                let rows = try await tx.query(
                    """
                    WITH picked AS (
                        SELECT id FROM work_items WHERE run_id = \(run) AND status = 'pending'
                        ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    )
                    UPDATE work_items w SET status = 'leased', lease_id = \(lease),
                        lease_expires_at = now() + make_interval(secs => \(Double(leaseSeconds))), attempts = w.attempts + 1
                    FROM picked, rows r WHERE w.id = picked.id AND r.id = w.row_id
                    RETURNING w.id, w.row_id, r.content::text, w.lease_expires_at
                    """, logger: logger
                ).collect()
                let prompt = try PromptTemplate(template)
                var items: [ClaimedItem] = []
                var expires = Date().addingTimeInterval(Double(leaseSeconds))
                for row in rows {
                    let (id, rowID, content, until) = try row.decode((UUID, UUID, String, Date).self)
                    expires = until
                    items.append(ClaimedItem(workItemID: id, rowID: rowID, prompt: prompt.render(Self.values(content))))
                }
                if !items.isEmpty {
                    var event = audit
                    event.entityID = run.uuidString.lowercased()
                    event.metadata["items"] = String(items.count)
                    event.metadata["lease_id"] = lease.uuidString.lowercased()
                    try await AuditOutbox.write(event, on: tx, logger: logger)
                }
                return (lease, expires, items)
            }
        }
    }

    /// Extends the lease of every item it holds; returns how many.
    public func heartbeat(run: UUID, lease: UUID, leaseSeconds: Int, audit: AuditEvent) async throws -> Int {
        try await databases.withConnection(org: org) { [logger] connection in
            try await connection.withTransaction(logger: logger) { tx in
                let extended = try await tx.query(
                    """
                    UPDATE work_items SET lease_expires_at = now() + make_interval(secs => \(Double(leaseSeconds))), heartbeat_at = now()
                    WHERE run_id = \(run) AND lease_id = \(lease) AND status = 'leased' RETURNING id
                    """, logger: logger
                ).collect().count
                if extended > 0 {
                    var event = audit
                    event.entityID = run.uuidString.lowercased()
                    event.metadata["items"] = String(extended)
                    event.metadata["lease_id"] = lease.uuidString.lowercased()
                    try await AuditOutbox.write(event, on: tx, logger: logger)
                }
                return extended
            }
        }
    }

    /// Records results, all or none: each item must be leased by `lease` (or already finished by it: a resubmission
    /// is a no-op). Returns how many were new.
    public func submit(run: UUID, lease: UUID, results: [SubmittedResult], audit: AuditEvent) async throws -> Int {
        try await databases.withConnection(org: org) { [logger] connection in
            try await connection.withTransaction(logger: logger) { tx in
                var recorded = 0
                for result in results {
                    let state = try await tx.query(
                        "SELECT status::text, lease_id, row_id FROM work_items WHERE id = \(result.workItemID) AND run_id = \(run) FOR UPDATE",
                        logger: logger
                    ).collect().first?.decode((String, UUID?, UUID).self)
                    guard let (status, holder, rowID) = state, holder == lease else { throw Self.notLeased(result.workItemID) }
                    if status == "done" || status == "failed" { continue }  // the same result again
                    guard status == "leased" else { throw Self.notLeased(result.workItemID) }
                    try await tx.query(
                        """
                        INSERT INTO predictions (run_id, row_id, output, latency_seconds, outcome, error)
                        VALUES (\(run), \(rowID), \(result.output), \(result.latencySeconds),
                                \(result.succeeded ? "succeeded" : "failed")::prediction_outcome, \(result.error))
                        ON CONFLICT (run_id, row_id) DO NOTHING
                        """, logger: logger)
                    try await tx.query(
                        "UPDATE work_items SET status = \(result.succeeded ? "done" : "failed")::work_item_status WHERE id = \(result.workItemID)",
                        logger: logger)
                    recorded += 1
                }
                if recorded > 0 {
                    var event = audit
                    event.entityID = run.uuidString.lowercased()
                    event.metadata["results"] = String(recorded)
                    try await AuditOutbox.write(event, on: tx, logger: logger)
                }
                return recorded
            }
        }
    }

    static func notLeased(_ item: UUID) -> TesseraError {
        .conflict("work item \(item.uuidString.lowercased()) is not held by this lease; nothing was recorded")
    }

    /// A row's content as text values for a prompt: strings as they are, anything else as JSON.
    static func values(_ content: String) -> [String: String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(content.utf8)) as? [String: Any] else { return [:] }
        return object.mapValues { value in
            if let text = value as? String { return text }
            if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) {
                return String(decoding: data, as: UTF8.self)
            }
            return "\(value)"
        }
    }
}
