import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// `jobs_meta` in the metadata database mirrors each org's jobs' statuses, so a platform admin can list jobs
/// across orgs. It is kept by the audit relay: a job's create and transition events carry its status, and the
/// relay applies them in the transaction that appends them, in outbox order, exactly once. The mirror is as
/// current as the audit log (the relay's lag, shown by /readyz).
public enum JobMirror {
    /// Every org's jobs from the mirror, by (created_at, job_id) after `after`: (org, job, pipeline version,
    /// status, created, updated, finished).
    public static func list(
        status: String?, after: (Date, UUID)?, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [(UUID, UUID, UUID?, String, Date, Date, Date?)] {
        let (afterTime, afterID) = (after?.0, after?.1)
        return try await connection.query(
            """
            SELECT org_id, job_id, pipeline_version_id, status::text, created_at, updated_at, finished_at FROM jobs_meta
            WHERE (\(status)::text IS NULL OR status::text = \(status)::text)
              AND (\(afterTime)::timestamptz IS NULL OR (created_at, job_id) > (\(afterTime)::timestamptz, \(afterID)::uuid))
            ORDER BY created_at, job_id LIMIT \(limit)
            """, logger: logger
        ).collect().map { try $0.decode((UUID, UUID, UUID?, String, Date, Date, Date?).self) }
    }

    static func apply(_ event: AuditEvent, on connection: PostgresConnection, logger: Logger) async throws {
        guard event.entityType == "job", event.action == .jobCreate || event.action == .jobTransition,
            let org = event.org, let job = event.entityID.flatMap(UUID.init(uuidString:)),
            let status = event.metadata["status"].flatMap(JobStatus.init(rawValue:))
        else { return }
        let version = event.metadata["pipeline_version_id"].flatMap(UUID.init(uuidString:))
        try await connection.query(
            """
            INSERT INTO jobs_meta (org_id, job_id, pipeline_version_id, status, finished_at)
            SELECT \(org), \(job), v.id, \(status.rawValue)::job_status, CASE WHEN \(status.isTerminal) THEN now() END
            FROM (SELECT 1) one LEFT JOIN pipeline_versions v ON v.id = \(version)
            ON CONFLICT (org_id, job_id) DO UPDATE SET status = EXCLUDED.status, finished_at = EXCLUDED.finished_at
            """, logger: logger)
    }
}
