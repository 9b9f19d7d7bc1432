import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OpenAPIRuntime
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// The org a request acts in, once resolved (step 2); handlers read it instead of the path.
public struct Tenant: Sendable, Equatable {
    public let orgID: UUID

    /// The current tenant; a route reaching here without one is a bug in the contract, not the client's fault.
    static func required() throws -> Tenant {
        guard let tenant = RequestScope.tenant else { throw TesseraError.internalError }
        return tenant
    }
}

/// authenticate → resolve tenant → authorize, in that order, for every route the contract marks with a
/// permission (`x-tessera-permission`). Handlers then run with the request's `RequestScope` set: principal and
/// tenant, and a logger carrying the request id and the principal.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let routes: RouteTable
    let authenticator: Authenticator
    let orgs: OrgStatusLookup
    /// Whose `X-Forwarded-For` names the client (`http.trusted_proxies`).
    var trustedProxies: TrustedProxies = .none
    /// Bulk bodies held in memory while parsed, admitted a bounded number at a time per process and per org
    /// (`work.bulk_bodies*`) once the org is known and before a byte of the body is read; none when nil.
    var bulkBodies: FairGate? = nil
    /// How long an admitted bulk body has to arrive whole (`work.bulk_body_seconds`).
    var bulkBodyTime: Duration = .seconds(60)
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let rule = routes.rule(endpoint: context.endpointPath, method: request.method.rawValue) else {
            return try await next(request, context)  // no such route: the router answers 404/405
        }
        let info = info(request, context: context)
        // One task-local binding per request, made once the chain has passed: what runs before (authentication,
        // the tenant's look-up) is given the request's info explicitly, and a denial binds it for its record.
        if case .public = rule {
            return try await RequestScope.$current.withValue(RequestScope(info: info, logger: context.logger)) {
                try await next(request, context)
            }
        }
        let scope: RequestScope
        if !TraceSwitch.isOn,
            let admitted = admittedFromCache(
                request, org: context.parameters.get("org"), rule: rule, info: info, logger: context.logger)
        {
            scope = admitted
        } else {
            scope = try await traced("access", attributes: ["tessera.rule": rule.permissionName]) {
                try await admit(
                    request, org: context.parameters.get("org"), rule: rule,
                    scope: RequestScope(info: info, logger: context.logger))
            }
        }
        guard let principal = scope.principal else { throw TesseraError.internalError }
        do {
            return try await RequestScope.$current.withValue(scope) {
                if let bulkBodies, let org = scope.tenant?.orgID,
                    let kind = BulkBody.of(request.method, path: request.uri.path), kind.isGated
                {
                    return try await bulkBodies.run(org: org) {
                        let received = try await Self.received(request, within: bulkBodyTime, spooled: kind == .parsed)
                        return try await next(received, context)
                    }
                }
                return try await next(request, context)
            }
        } catch {
            await recordRefusal(
                error, principal: principal, scope: scope, requested: context.parameters.get("org"), rule: rule,
                request: request)
            throw error
        }
    }

    /// A refusal a handler made past the chain (a grant beyond what the caller holds, self-service off or
    /// unverified), recorded like the chain's own: by this middleware for every route, and by the console for the
    /// operations its pages run. (The generated layer hands a handler's error on wrapped in its `ServerError`.)
    func recordRefusal(
        _ error: any Error, principal: Principal, scope: RequestScope, requested: String?, rule: RouteTable.Rule,
        request: Request
    ) async {
        let refusal = (error as? TesseraError) ?? ((error as? ServerError)?.underlyingError as? TesseraError)
        guard let refusal, refusal.statusCode == 403 else { return }
        await RequestScope.$current.withValue(scope) {
            await recordDenial(
                refusal, principal: principal, requested: requested, permission: rule.permissionName, request: request)
        }
    }

    /// The request's scope before the chain: its id, client (through trusted proxies) and user agent.
    func scope(_ request: Request, context: Context) -> RequestScope {
        RequestScope(info: info(request, context: context), logger: context.logger)
    }

    /// The request's id, client (through trusted proxies) and user agent.
    func info(_ request: Request, context: Context) -> RequestInfo {
        let client = trustedProxies.client(
            peer: context.clientAddress, forwardedFor: request.headers[Self.forwardedFor])
        return RequestInfo(
            requestID: context.requestID, clientAddress: client,
            userAgent: request.headers[.userAgent].map { $0.truncatedUTF8(to: RequestInfo.maxUserAgentBytes) })
    }

    /// Steps 1–3 without suspending, for a request whose credential and org status are cached and pass: the
    /// admitted scope, or nil — for anything not cached and for every refusal — to take `admit`, which looks up
    /// what is missing and records the refusals. The same checks as `admit`'s, on the same cache: a key in steady
    /// use reading a ready org passes the chain in one synchronous step (with tracing on, `admit` makes the span).
    /// The scope is made once, whole (one allocation a request).
    func admittedFromCache(
        _ request: Request, org requested: String?, rule: RouteTable.Rule, info: RequestInfo, logger: Logger
    ) -> RequestScope? {
        guard let principal = authenticator.cachedPrincipal(request.headers[.authorization]) else { return nil }
        switch rule {
        case .public, .authenticated:
            return RequestScope(info: info, principal: principal, logger: logger)
        case .platform:
            return principal.isPlatformAdmin ? RequestScope(info: info, principal: principal, logger: logger) : nil
        case .org(let permission, let also):
            guard let requested, let org = UUID(uuidString: requested),
                Self.firstMissing(permission, also: also, in: principal.permissions(in: org)) == nil,
                orgs.cachedStatus(of: org) == .ready
            else { return nil }
            return RequestScope(info: info, principal: principal, tenant: Tenant(orgID: org), logger: logger)
        }
    }

    /// Steps 1–3 for a route that is not public: the scope with the principal (and, for an org route, the
    /// tenant named by `org`, the path's `{org}`), or the refusal — recorded first when it is a denial. The web
    /// console runs its pages' operations through here too.
    func admit(_ request: Request, org requested: String?, rule: RouteTable.Rule, scope: RequestScope) async throws
        -> RequestScope
    {
        var scope = scope
        let principal: Principal
        if let cached = authenticator.cachedPrincipal(request.headers[.authorization]) {
            principal = cached
        } else {
            principal = try await authenticator.authenticate(request, info: scope.info)
        }
        scope = scope.with(principal: principal)
        switch rule {
        case .public, .authenticated:
            break
        case .platform:
            guard principal.isPlatformAdmin else {
                let error = TesseraError.forbidden("only a platform admin may do this")
                await RequestScope.$current.withValue(scope) {
                    await recordDenial(
                        error, principal: principal, requested: nil, permission: "platform", request: request)
                }
                throw error
            }
        case .org(let permission, let also):
            do {
                let tenant = try await resolveTenant(principal, org: requested)
                try authorize(principal, permission, also: also, in: tenant)
                scope = scope.with(tenant: tenant)
            } catch let error as TesseraError {
                await RequestScope.$current.withValue(scope) {
                    await recordDenial(
                        error, principal: principal, requested: requested, permission: rule.permissionName,
                        request: request)
                }
                throw error
            }
        }
        return scope
    }

    /// An `access.denied` record: a 403 in the org's own chain; a 404 (an org not the principal's, or none) in
    /// the platform's, so nobody's chain tells whether another org exists.
    func recordDenial(
        _ error: TesseraError, principal: Principal, requested: String?, permission: String, request: Request
    ) async {
        let org: UUID? = error.statusCode == 403 ? requested.flatMap(UUID.init(uuidString:)) : nil
        let event = AuditEvent.fromRequest(
            org: org, actor: AuditEvent.actor(principal), action: .accessDenied, entityType: "route",
            entityID: "\(request.method.rawValue) \(SecretPath.redacted(request.uri.path))".prefix(300).description,
            outcome: .denied,
            metadata: [
                "permission": permission, "status": String(error.statusCode),
                "requested_org": String((requested ?? "").prefix(64)), "detail": String(error.detail.prefix(300)),
            ])
        do {
            try await authenticator.client.withConnection {
                try await AuditStore(logger: authenticator.logger).append(event, on: $0)
            }
        } catch {
            authenticator.logger.error(
                "could not record a denial", metadata: ["error": "\(describeDatabaseError(error))"])
        }
    }

    /// Step 2: the `{org}` of the path must be the principal's (a platform admin may name any) and ready.
    /// A principal asking about an org it does not belong to gets 404, whether or not that org exists.
    func resolveTenant(_ principal: Principal, org raw: String?) async throws -> Tenant {
        guard let raw, let org = UUID(uuidString: raw), principal.permissions(in: org) != nil else {
            throw TesseraError.notFound("no such organization")
        }
        guard let status = try await orgs.status(of: org) else {
            throw TesseraError.notFound("no such organization")
        }
        switch status {
        case .ready: return Tenant(orgID: org)
        case .suspended: throw TesseraError.forbidden("the organization is suspended")
        case .provisioning, .failed, .deleting:
            throw TesseraError.conflict("the organization is \(status.rawValue), not ready")
        }
    }

    /// Step 3: the route's permissions, every one held in that org (the refusal names the first one missing).
    func authorize(_ principal: Principal, _ permission: Permission, also: [Permission], in tenant: Tenant) throws {
        if let missing = Self.firstMissing(permission, also: also, in: principal.permissions(in: tenant.orgID)) {
            throw TesseraError.forbidden("this needs the \(missing.rawValue) permission")
        }
    }

    /// The first of an org route's permissions not in `held` (the first of all when `held` is nil), or nil when
    /// every one is: the one check of the cached admission and of `authorize`.
    static func firstMissing(_ permission: Permission, also: [Permission], in held: Set<Permission>?) -> Permission? {
        guard let held, held.contains(permission) else { return permission }
        return also.first { !held.contains($0) }
    }
}

/// An org's lifecycle status from the metadata database, cached like credentials (a status change
/// notifies every gateway).
struct OrgStatusLookup: Sendable {
    let client: PostgresClient
    let cache: CredentialCache
    /// The longest the look-up waits for the metadata database (then 503).
    let deadline: Duration
    let logger: Logger

    /// The status when cached (nil otherwise: `status(of:)` looks it up).
    func cachedStatus(of org: UUID) -> OrgStatus? { cache.orgStatus(org) }

    func status(of org: UUID) async throws -> OrgStatus? {
        if let cached = cachedStatus(of: org) { return cached }
        let status = try await withDeadline(deadline) { [client, logger] in
            try await client.withConnection { try await OrgStore(logger: logger).status(of: org, on: $0) }
        }
        if let status { cache.putOrgStatus(status, for: org) }
        return status
    }
}

extension AccessMiddleware {
    /// The request with its body received whole within `time`: a sender slower than that is answered 408 and gives
    /// its bulk-body slot back, instead of holding it while it trickles bytes. A JSON body is collected (it is decoded
    /// whole anyway); a `spooled` one is written to an unlinked file as it comes and handed on as a stream of that
    /// file, so the handler parses it without the body ever being in memory whole.
    static func received(_ request: Request, within time: Duration, spooled: Bool) async throws -> Request {
        let body = request.body
        var request = request
        do {
            if spooled {
                let spool = try SpoolFile()
                try await withDeadline(time) {
                    for try await chunk in body { try spool.write(chunk.readableBytesView) }
                }
                request.body = RequestBody(asyncSequence: SpoolChunks(spool: spool))
            } else {
                request.body = RequestBody(buffer: try await withDeadline(time) { try await body.collect(upTo: .max) })
            }
        } catch is DeadlineExceeded {
            throw TesseraError.requestTimeout(
                "the body did not arrive within \(time.components.seconds) seconds; its upload slot went to the next")
        }
        return request
    }
}
