import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// One route family's handlers (one tag of `openapi.yaml`), holding only its own dependencies. `APIHandler`
/// hands each generated operation to its controller; the controller decodes, calls one use case, store or
/// repository, and maps the result. What every controller shares — the request's logger, tenant and
/// principal, the actor of its audit records, ids, paging and cursors — is here.
protocol Controller: Sendable {
    /// The application's logger, for work outside a request.
    var baseLogger: Logger { get }
}

extension Controller {
    /// The current request's logger (its request id and principal on every line, the stores' included), or the
    /// application's outside a request.
    var logger: Logger { RequestScope.current?.logger ?? baseLogger }

    /// The tenant and principal the access middleware resolved for this request.
    func current() throws -> (Tenant, Principal) {
        guard let principal = RequestScope.principal else { throw TesseraError.internalError }
        return (try Tenant.required(), principal)
    }

    /// The request's principal, id, client address and user agent, for the records of its changes.
    func auditActor() -> AuditActor { AuditActor.fromRequest(RequestScope.principal) }

    /// A record by the current principal, from the current request.
    func audit(
        _ action: AuditAction, org: UUID?, entityType: String? = nil, entityID: UUID? = nil,
        outcome: AuditOutcome = .succeeded, metadata: [String: String] = [:]
    ) -> AuditEvent {
        auditActor().event(
            org: org, action: action, entityType: entityType, entityID: entityID.map(Self.id), outcome: outcome,
            metadata: metadata)
    }

    /// The request's org's quotas, from the metadata database.
    func orgQuotas(_ client: PostgresClient, org: UUID? = nil) async throws -> OrgQuotas {
        let org = try org ?? Tenant.required().orgID
        return try await client.withConnection { [logger] in try await OrgStore(logger: logger).quotas(org, on: $0) }
    }

    /// A 403 with its `access.denied` record, for a refusal on a public route (on every other route the access
    /// middleware records the 403s handlers throw).
    func denied(route: String, permission: String, on client: PostgresClient, _ detail: String) async throws
        -> TesseraError
    {
        try await client.auditedChange(logger: logger) { _, trail in
            try await trail.append(
                auditActor().event(
                    org: nil, action: .accessDenied, entityType: "route", entityID: route, outcome: .denied,
                    metadata: ["permission": permission, "status": "403", "requested_org": ""]))
        }
        return .forbidden(detail)
    }

    /// The user behind a principal, if a user.
    static func userID(of principal: Principal) -> UUID? {
        if case .user(let id, _) = principal.kind { return id }
        return nil
    }

    /// The current request's user, if a user.
    static var currentUserID: UUID? { RequestScope.principal.flatMap(userID(of:)) }

    static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }

    static func pageLimit(_ limit: Int?) throws -> Int {
        let limit = limit ?? 100
        guard (1...1000).contains(limit) else { throw TesseraError.badRequest("limit must be 1–1000") }
        return limit
    }

    /// The first `limit` of `records` (fetched as limit + 1) and the cursor of the next page, if there is one.
    static func page<T>(_ records: [T], limit: Int, cursor: (T) -> String) -> ([T], String?) {
        let page = Array(records.prefix(limit))
        return (page, records.count > limit ? page.last.map(cursor) : nil)
    }

    static func cursor(_ raw: String?) throws -> UUID? {
        try raw.map { raw in
            guard let id = UUID(uuidString: raw) else {
                throw TesseraError.badRequest("cursor is not one this server gave")
            }
            return id
        }
    }

    /// An id in a request body: 400 when it is not one.
    static func reference(_ raw: String, _ field: String) throws -> UUID {
        try UUID(uuidString: raw).orBadRequest("\(field) is not an id")
    }

    /// An id from the path; one that is not a UUID names nothing here.
    static func objectID(_ raw: String) throws -> UUID {
        guard let id = UUID(uuidString: raw) else { throw TesseraError.notFound("no such object") }
        return id
    }

    /// A (created_at, id) keyset cursor: microseconds since 1970, an underscore, the id.
    /// Text inside a cursor: base64 with `-` and `~` for `+` and `/`, so it holds no `_` (which separates a
    /// cursor's parts) and needs no escaping in a query.
    static func cursorText(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "~")
    }

    static func cursorText(decoding raw: some StringProtocol) -> String? {
        Data(base64Encoded: raw.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "~", with: "/"))
            .flatMap { String(data: $0, encoding: .utf8) }
    }

    static func timeCursor(_ date: Date, _ id: UUID) -> String {
        "\(Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))_\(Self.id(id))"
    }

    static func timeCursor(_ raw: String) throws -> (Date, UUID) {
        let parts = raw.split(separator: "_")
        guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else {
            throw TesseraError.badRequest("cursor is not one this server gave")
        }
        // Half a microsecond more: PostgresNIO truncates a Date to whole microseconds, and the Double may sit
        // just below the cursor's microsecond, which would give the last row of the page again.
        return (Date(timeIntervalSince1970: (Double(micros) + 0.5) / 1_000_000), id)
    }

    /// Any JSON value of the contract as compact JSON text.
    static func jsonText(_ value: some Encodable) throws -> String { try JSONText.encode(value) }

    /// JSON text as a value of the contract.
    static func jsonValue<T: Decodable>(_ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}

extension Optional {
    /// The value, or a 400 saying what was wrong.
    func orBadRequest(_ detail: String) throws -> Wrapped {
        guard let self else { throw TesseraError.badRequest(detail) }
        return self
    }
}

/// A controller that changes the metadata database.
protocol MetadataController: Controller {
    var client: PostgresClient { get }
    /// `bench.skip_audit`: refused by the settings outside the dev profile.
    var skipAuditForBenchmark: Bool { get }
}

extension MetadataController {
    /// A change in the metadata database and the records it appends to `trail`, committed together
    /// (`bench.skip_audit`, dev profile only, leaves the records out for bench/audit's reference run).
    func change<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, AuditTrail) async throws -> T)
        async throws -> T
    {
        try await client.auditedChange(logger: logger, skipAudit: skipAuditForBenchmark, body)
    }
}

/// A controller of org workloads: its repositories are made for the request's org.
protocol TenantController: Controller {
    var tenants: TenantDatabases { get }
}

/// A controller whose operations are heavy: admitted through `HeavyWork` for the request's org.
protocol HeavyController: TenantController {
    var heavy: HeavyWork { get }
}

extension HeavyController {
    func heavily<T: Sendable>(_ work: (HeavyWork.Compute) async throws -> T) async throws -> T {
        try await heavy.run(org: try Tenant.required().orgID, work)
    }
}

extension TenantController {
    /// Deletes a model, prompt or dataset of the org: 404 when there is none, 409 naming how many runs use it.
    static func delete(
        _ kind: PredictionRepository.RunInput, _ id: UUID, in repository: PredictionRepository, by actor: AuditActor
    ) async throws {
        switch try await repository.delete(kind, id, by: actor) {
        case .deleted: return
        case .notFound: throw TesseraError.notFound("no such \(kind)")
        case .usedByRuns(let runs):
            throw TesseraError.conflict("the \(kind) is used by \(runs) run\(runs == 1 ? "" : "s")")
        }
    }

    func predictions() throws -> PredictionRepository {
        PredictionRepository(org: try Tenant.required().orgID, databases: tenants, logger: logger)
    }

    func datasets() throws -> DatasetRepository {
        DatasetRepository(org: try Tenant.required().orgID, databases: tenants, logger: logger)
    }

    func cafa() throws -> CAFARepository {
        CAFARepository(org: try Tenant.required().orgID, databases: tenants, logger: logger)
    }

    func jobs() throws -> JobRepository {
        JobRepository(org: try Tenant.required().orgID, databases: tenants, logger: logger)
    }
}
