import Logging
import OpenAPIRuntime
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Implements the operations generated from `openapi.yaml` (one file per route family).
struct APIHandler: APIProtocol {
    let client: PostgresClient
    let tenants: TenantDatabases
    let relay: AuditRelay
    /// Checks the signatures of audit anchors left by retention.
    let box: SecretBox
    /// `bench.skip_audit`: refused by the settings outside the dev profile.
    var skipAuditForBenchmark = false
    /// Tells this process's provisioning service that an org is waiting.
    let wakeProvisioner: @Sendable () -> Void
    let access: AccessServices
    let readiness: Readiness
    let document: OpenAPIDocument
    /// The application's logger, for work outside a request.
    let baseLogger: Logger

    /// The current request's logger (its request id and principal on every line, the stores' included), or the
    /// application's outside a request.
    var logger: Logger { RequestScope.current?.logger ?? baseLogger }

    func getHealthz(_ input: Operations.getHealthz.Input) async throws -> Operations.getHealthz.Output {
        .ok(.init(body: .json(.init(status: .ok))))
    }

    func getReadyz(_ input: Operations.getReadyz.Input) async throws -> Operations.getReadyz.Output {
        let report = try await readiness.check(logger: logger)
        return .ok(
            .init(
                body: .json(
                    .init(
                        status: .ready, database: "ok",
                        migrations_applied: report.applied, migrations_pending: report.pending,
                        audit_relay_lag_seconds: await relay.lagSeconds()))))
    }

    func getOpenAPIDocument(_ input: Operations.getOpenAPIDocument.Input) async throws
        -> Operations.getOpenAPIDocument.Output
    {
        .ok(.init(body: .json(.init(additionalProperties: document.json))))
    }
}
