import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// `/v1/orgs`: create orgs (provisioned in the background), list them, follow and retry provisioning.
struct OrgsController: Controller {
    let client: PostgresClient
    let box: SecretBox
    let mailer: AccountMailer
    let tenants: TenantDatabases
    /// Tells this process's provisioning service that an org is waiting.
    let wakeProvisioner: @Sendable () -> Void
    let accounts: Settings.Accounts
    let baseLogger: Logger

    /// Made per request, so its lines carry the request's id.
    var orgAdministration: OrgAdministration {
        OrgAdministration(metadata: client, box: box, mailer: mailer, logger: logger)
    }

    func createOrg(_ input: Operations.createOrg.Input) async throws -> Operations.createOrg.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        guard let principal = RequestScope.principal else { throw TesseraError.internalError }
        var selfService: (owner: UUID, maxOrgs: Int)?
        if !principal.isPlatformAdmin {
            // Anyone else: a signed-in user making an org of their own, when self-service is on.
            guard accounts.selfService, let user = Self.userID(of: principal) else {
                throw TesseraError.forbidden(
                    "only a platform admin may do this"
                        + (accounts.selfService ? " (or a signed-in user, for an org of their own)" : ""))
            }
            guard body.owner_email == nil, body.database_server == nil else {
                throw TesseraError.unprocessable("owner_email and database_server are a platform admin's to choose")
            }
            selfService = (user, accounts.maxOrgsPerUser)
        }
        let (org, ownerInvited) = try await orgAdministration.create(
            name: body.name, slug: body.slug, ownerEmail: body.owner_email, server: body.database_server,
            by: auditActor(), selfService: selfService)
        wakeProvisioner()
        return .accepted(
            .init(
                body: .json(
                    .init(
                        org: Self.schema(org), provisioning_url: "/v1/orgs/\(Self.id(org.id))/provisioning",
                        owner_invited: body.owner_email == nil ? nil : ownerInvited))))
    }

    func listOrgs(_ input: Operations.listOrgs.Input) async throws -> Operations.listOrgs.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let cursor = try Self.cursor(input.query.cursor)
        let status = input.query.status.flatMap { OrgStatus(rawValue: $0.rawValue) }
        let orgs = try await client.withConnection {
            try await OrgStore(logger: logger).list(status: status, after: cursor, limit: limit + 1, on: $0)
        }
        let page = Array(orgs.prefix(limit))
        return .ok(
            .init(
                body: .json(
                    .init(
                        items: page.map(Self.schema),
                        next_cursor: orgs.count > limit ? page.last.map { Self.id($0.id) } : nil))))
    }

    func getOrg(_ input: Operations.getOrg.Input) async throws -> Operations.getOrg.Output {
        let org = try await existingOrg(input.path.org)
        return .ok(.init(body: .json(Self.schema(org))))
    }

    func getProvisioning(_ input: Operations.getProvisioning.Input) async throws -> Operations.getProvisioning.Output {
        .ok(.init(body: .json(try await provisioning(of: try await existingOrg(input.path.org)))))
    }

    func retryProvisioning(_ input: Operations.retryProvisioning.Input) async throws
        -> Operations.retryProvisioning.Output
    {
        try await orgAdministration.retry(try await existingOrg(input.path.org), by: auditActor())
        wakeProvisioner()
        return .accepted(.init(body: .json(try await provisioning(of: try await existingOrg(input.path.org)))))
    }

    func existingOrg(_ raw: String) async throws -> OrgRecord {
        try await orgAdministration.existing(try Self.objectID(raw))
    }

    func provisioning(of org: OrgRecord) async throws -> Components.Schemas.Provisioning {
        let steps = try await client.withConnection { try await OrgStore(logger: logger).steps(org.id, on: $0) }
        return .init(
            org_id: Self.id(org.id), status: org.status.rawValue, status_reason: org.statusReason,
            steps: steps.map { step in
                .init(
                    step: step.step.rawValue, summary: step.step.summary,
                    status: .init(rawValue: step.status.rawValue) ?? .pending, attempts: step.attempts,
                    started_at: step.startedAt, finished_at: step.finishedAt,
                    duration_ms: both(step.startedAt, step.finishedAt).map { $1.timeIntervalSince($0) * 1000 },
                    error: step.error)
            })
    }

    func setOrgQuotas(_ input: Operations.setOrgQuotas.Input) async throws -> Operations.setOrgQuotas.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        var limits: [Quota: Int] = [:]
        limits[.members] = body.members
        limits[.apiKeys] = body.api_keys
        limits[.datasetRows] = body.dataset_rows
        limits[.artifactBytes] = body.artifact_bytes.map(Int.init)
        limits[.concurrentRuns] = body.concurrent_runs
        let org = try await orgAdministration.setQuotas(
            try await existingOrg(input.path.org), OrgQuotas(limits), by: auditActor())
        return .ok(.init(body: .json(Self.schema(org))))
    }

    static func schema(_ org: OrgRecord) -> Components.Schemas.Org {
        .init(
            id: id(org.id), slug: org.slug, name: org.name, status: .init(rawValue: org.status.rawValue) ?? .failed,
            status_reason: org.statusReason, database_server: org.server, schema_version: org.schemaVersion,
            created_at: org.createdAt,
            quotas: .init(
                members: org.quotas[.members], api_keys: org.quotas[.apiKeys], dataset_rows: org.quotas[.datasetRows],
                artifact_bytes: org.quotas[.artifactBytes].map(Int64.init),
                concurrent_runs: org.quotas[.concurrentRuns]))
    }

}

/// `DELETE /v1/orgs/{org}`: suspend, then (with purge and the org's name as confirmation) drop.
extension OrgsController {
    func deleteOrg(_ input: Operations.deleteOrg.Input) async throws -> Operations.deleteOrg.Output {
        let org = try await existingOrg(input.path.org)
        let done = try await orgAdministration.delete(
            org, purge: input.query.purge ?? false, confirm: input.query.confirm, by: auditActor())
        if done.suspended { tenants.close(org: org.id) }
        guard done.purgeRequested else {
            return .ok(.init(body: .json(Self.schema(try await existingOrg(input.path.org)))))
        }
        wakeProvisioner()
        return .accepted(.init(body: .json(Self.schema(try await existingOrg(input.path.org)))))
    }
}
