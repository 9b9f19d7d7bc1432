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
    public func claim(run: UUID, limit: Int, leaseSeconds: Int, by actor: AuditActor) async throws -> (
        lease: UUID, expires: Date, items: [ClaimedItem]
    ) {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            guard
                let (status, template) = try await tx.sql(
                    "SELECT r.status::text, p.template FROM prediction_runs r JOIN prompts p ON p.id = r.prompt_id WHERE r.id = \(run)",
                    logger: logger
                ).collect().first?.decode((String, String).self)
            else { throw TesseraError.notFound("no such run") }
            guard status == "pending" || status == "running" else {
                throw TesseraError.conflict("the run is \(status); it hands out no more work")
            }
            // Leases of this run that ran out go back to the queue first, audited as the reaper audits them.
            try await Self.reap(run: run, by: actor, on: tx, trail: trail, logger: logger)
            let lease = UUID()
            let rows = try await tx.sql(
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
                try await trail.record(
                    .runClaim, by: actor, entityType: "run", entityID: run,
                    metadata: ["items": String(items.count), "lease_id": lease.uuidString.lowercased()])
            }
            return (lease, expires, items)
        }
    }

    /// Extends the lease of every item it holds; returns how many.
    public func heartbeat(run: UUID, lease: UUID, leaseSeconds: Int, by actor: AuditActor) async throws -> Int {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            let extended = try await tx.sql(
                """
                UPDATE work_items SET lease_expires_at = now() + make_interval(secs => \(Double(leaseSeconds))), heartbeat_at = now()
                WHERE run_id = \(run) AND lease_id = \(lease) AND status = 'leased' RETURNING id
                """, logger: logger
            ).collect().count
            if extended > 0 {
                try await trail.record(
                    .runHeartbeat, by: actor, entityType: "run", entityID: run,
                    metadata: ["items": String(extended), "lease_id": lease.uuidString.lowercased()])
            }
            return extended
        }
    }

    /// Records results, all or none: each item must be leased by `lease` (or already finished by it: a resubmission
    /// is a no-op). Set-based: one locking read, one insert and one update however many results the batch holds.
    /// Returns how many were new.
    public func submit(run: UUID, lease: UUID, results: [SubmittedResult], by actor: AuditActor) async throws -> Int {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            let ids = results.map(\.workItemID)
            var states: [UUID: (status: String, holder: UUID?)] = [:]
            // Locked in id order, as every claim locks, so two batches cannot deadlock.
            for row in try await tx.sql(
                "SELECT id, status::text, lease_id FROM work_items WHERE run_id = \(run) AND id = ANY(\(ids)::uuid[]) ORDER BY id FOR UPDATE",
                logger: logger
            ).collect() {
                let (id, status, holder) = try row.decode((UUID, String, UUID?).self)
                states[id] = (status, holder)
            }
            var fresh: [SubmittedResult] = []
            for result in results {
                guard let state = states[result.workItemID], state.holder == lease else {
                    throw Self.notLeased(result.workItemID)
                }
                if state.status == "done" || state.status == "failed" { continue }  // the same result again
                guard state.status == "leased" else { throw Self.notLeased(result.workItemID) }
                fresh.append(result)
            }
            guard !fresh.isEmpty else { return 0 }
            // Arrays cannot carry NULLs through the driver: parallel flags mark the missing values.
            let items = fresh.map(\.workItemID)
            let outputs = fresh.map { $0.output ?? "" }
            let noOutput = fresh.map { $0.output == nil }
            let latencies = fresh.map { $0.latencySeconds ?? 0 }
            let noLatency = fresh.map { $0.latencySeconds == nil }
            let succeeded = fresh.map(\.succeeded)
            let errors = fresh.map { $0.error ?? "" }
            let noError = fresh.map { $0.error == nil }
            try await tx.sql(
                """
                INSERT INTO predictions (run_id, row_id, output, latency_seconds, outcome, error)
                SELECT \(run), w.row_id, CASE WHEN t.no_output THEN NULL ELSE t.output END,
                       CASE WHEN t.no_latency THEN NULL ELSE t.latency END,
                       CASE WHEN t.ok THEN 'succeeded' ELSE 'failed' END::prediction_outcome,
                       CASE WHEN t.no_error THEN NULL ELSE t.error END
                FROM unnest(\(items)::uuid[], \(outputs)::text[], \(noOutput)::bool[], \(latencies)::float8[], \(noLatency)::bool[],
                            \(succeeded)::bool[], \(errors)::text[], \(noError)::bool[])
                     AS t(item, output, no_output, latency, no_latency, ok, error, no_error)
                JOIN work_items w ON w.id = t.item
                ON CONFLICT (run_id, row_id) DO NOTHING
                """, logger: logger)
            try await tx.sql(
                """
                UPDATE work_items w SET status = CASE WHEN t.ok THEN 'done' ELSE 'failed' END::work_item_status
                FROM unnest(\(items)::uuid[], \(succeeded)::bool[]) AS t(item, ok) WHERE w.id = t.item
                """, logger: logger)
            try await trail.record(
                .predictionSubmit, by: actor, entityType: "run", entityID: run,
                metadata: ["results": String(fresh.count)])
            return fresh.count
        }
    }

    /// Returns expired leases of every run to the queue (the background reaper; claims also do this for their
    /// own run). Each run with items returned gets one audit event. Returns how many items went back.
    public func reapExpiredLeases(by actor: AuditActor) async throws -> Int {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            try await Self.reap(run: nil, by: actor, on: tx, trail: trail, logger: logger)
        }
    }

    /// Returns the expired leases of `run` (nil: of every run) to pending, skipping items a submission holds
    /// locked right now, with one audit event per run; returns how many items went back.
    @discardableResult
    static func reap(run: UUID?, by actor: AuditActor, on tx: PostgresConnection, trail: OrgAuditTrail, logger: Logger)
        async throws -> Int
    {
        let rows = try await tx.sql(
            """
            WITH expired AS (
                SELECT id FROM work_items
                WHERE status = 'leased' AND lease_expires_at < now() AND (\(run)::uuid IS NULL OR run_id = \(run)::uuid)
                ORDER BY id FOR UPDATE SKIP LOCKED
            )
            UPDATE work_items w SET status = 'pending', lease_id = NULL, lease_expires_at = NULL
            FROM expired WHERE w.id = expired.id RETURNING w.run_id
            """, logger: logger
        ).collect()
        var perRun: [UUID: Int] = [:]
        for row in rows { perRun[try row.decode(UUID.self), default: 0] += 1 }
        for (run, count) in perRun.sorted(by: { $0.key.uuidString < $1.key.uuidString }) {
            try await trail.record(
                .runLeaseExpire, by: actor, entityType: "run", entityID: run, metadata: ["items": String(count)])
        }
        return rows.count
    }

    static func notLeased(_ item: UUID) -> TesseraError {
        .conflict("work item \(item.uuidString.lowercased()) is not held by this lease; nothing was recorded")
    }

    /// A row's content as text values for a prompt: strings as they are, anything else as JSON.
    static func values(_ content: String) -> [String: String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(content.utf8)) as? [String: Any] else {
            return [:]
        }
        return object.mapValues { value in
            if let text = value as? String { return text }
            if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
            {
                return String(decoding: data, as: UTF8.self)
            }
            return "\(value)"
        }
    }
}
