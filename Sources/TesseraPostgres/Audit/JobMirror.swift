import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// `jobs_meta` in the metadata database mirrors each org's jobs' statuses, so a platform admin can list jobs
/// across orgs. It is kept by the audit relay: a job's create and transition events carry an `Update` beside
/// the audit record (typed; the audit metadata is the auditor's, not the mirror's), and the relay applies it in
/// the transaction that appends the record, in outbox order, exactly once. The mirror is as
/// current as the audit log (the relay's lag, shown by /readyz).
public enum JobMirror {
    /// Every org's jobs from the mirror, by (created_at, job_id) after `after`: (org, job, pipeline version,
    /// status, created, updated, finished).
    public static func list(
        status: String?, after: (Date, UUID)?, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [(UUID, UUID, UUID?, String, Date, Date, Date?)] {
        let (afterTime, afterID) = (after?.0, after?.1)
        return try await connection.sql(
            """
            SELECT org_id, job_id, pipeline_version_id, status::text, created_at, updated_at, finished_at FROM jobs_meta
            WHERE (\(status)::text IS NULL OR status::text = \(status)::text)
              AND (\(afterTime)::timestamptz IS NULL OR (created_at, job_id) > (\(afterTime)::timestamptz, \(afterID)::uuid))
            ORDER BY created_at, job_id LIMIT \(limit)
            """, logger: logger
        ).collect().map { try $0.decode((UUID, UUID, UUID?, String, Date, Date, Date?).self) }
    }

    /// The ready orgs with a job pending or running, as far as the mirror knows (the job engine's work list).
    public static func activeOrgs(on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        try await connection.sql(
            """
            SELECT DISTINCT m.org_id FROM jobs_meta m JOIN organizations o ON o.id = m.org_id
            WHERE m.status IN ('PENDING', 'RUNNING') AND o.status = 'ready'
            """, logger: logger
        ).collect().map { try $0.decode(UUID.self) }
    }

    /// A job's state for the mirror, written to the outbox with the record of the change that made it.
    public struct Update: Codable, Sendable, Equatable {
        public var jobID: UUID
        public var status: JobStatus
        public var pipelineVersionID: UUID?

        public init(jobID: UUID, status: JobStatus, pipelineVersionID: UUID? = nil) {
            self.jobID = jobID
            self.status = status
            self.pipelineVersionID = pipelineVersionID
        }

        enum CodingKeys: String, CodingKey {
            case jobID = "job_id"
            case status
            case pipelineVersionID = "pipeline_version_id"
        }
    }

    /// Upserts the job's row; a pipeline version that is not this org's is recorded as none (an org's database
    /// names versions, and is not trusted to name another org's).
    static func apply(_ update: Update, org: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        let (job, status, version) = (update.jobID, update.status, update.pipelineVersionID)
        try await connection.sql(
            """
            INSERT INTO jobs_meta (org_id, job_id, pipeline_version_id, status, finished_at)
            SELECT \(org), \(job), v.id, \(status.rawValue)::job_status, CASE WHEN \(status.isTerminal) THEN now() END
            FROM (SELECT 1) one
            LEFT JOIN (pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id AND p.org_id = \(org))
                   ON v.id = \(version)
            ON CONFLICT (org_id, job_id) DO UPDATE SET status = EXCLUDED.status, finished_at = EXCLUDED.finished_at
            """, logger: logger)
    }
}
