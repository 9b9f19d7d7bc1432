import Logging
import TesseraCore
import TesseraPostgres

/// `/healthz`, `/readyz`, `/openapi.json`: is the process up, may it take traffic, what is its contract.
struct SystemController: Controller {
    let readiness: Readiness
    let relay: AuditRelay
    let document: OpenAPIDocument
    let baseLogger: Logger

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
