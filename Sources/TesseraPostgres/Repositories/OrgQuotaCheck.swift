import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// Quotas counted in an org's own database (dataset rows, artifact bytes, concurrent runs), checked in the
/// transaction of the change under a per-quota advisory lock, so two changes at once cannot both pass.
enum OrgQuotaCheck {
    static func check(
        _ quota: Quota, _ quotas: OrgQuotas, adding: Int, on tx: PostgresConnection, logger: Logger
    ) async throws {
        guard quotas[quota] != nil else { return }
        let object = Int32(Quota.allCases.firstIndex(of: quota)!)
        try await tx.sql("SELECT pg_advisory_xact_lock(\(AdvisoryLock.orgQuota), \(object))", logger: logger)
        let used: Int =
            switch quota {
            case .datasetRows:
                try await tx.sql("SELECT coalesce(sum(row_count), 0)::int8 FROM datasets", logger: logger)
                    .collect()[0].decode(Int.self)
            case .artifactBytes:
                try await artifactBytesUsed(on: tx, logger: logger)
            case .concurrentRuns:
                try await tx.sql(
                    "SELECT count(*)::int8 FROM prediction_runs WHERE status IN ('pending', 'running')", logger: logger
                ).collect()[0].decode(Int.self)
            case .members, .apiKeys:
                preconditionFailure("\(quota) is counted in the metadata database")
            }
        try quotas.check(quota, used: used, adding: adding)
    }

    /// The bytes of the org's artifacts and job output files.
    static func artifactBytesUsed(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.sql(
            """
            SELECT (SELECT coalesce(sum(size_bytes), 0) FROM artifacts)::int8
                 + (SELECT coalesce(sum(size_bytes), 0) FROM job_outputs)::int8
            """, logger: logger
        ).collect()[0].decode(Int.self)
    }
}
