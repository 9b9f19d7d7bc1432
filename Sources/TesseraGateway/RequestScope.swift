import Foundation
import Logging
import TesseraCore

/// What the access middleware learned about a request — its id, client, principal and tenant — and a logger
/// carrying them. Generated handlers receive no request context, so this is the one task-local the gateway
/// has: set once per request by `AccessMiddleware` when the access chain has passed, read by handlers and by
/// what they call.
///
/// A class, made once per step of the chain: every read of the task-local (a handler's `RequestScope.principal`,
/// each log line's principal) then retains one reference instead of copying every field.
public final class RequestScope: Sendable {
    public let info: RequestInfo
    public let principal: Principal?
    public let tenant: Tenant?
    /// The request's logger, carrying the request id (`JSONLogHandler` adds the principal, read from here, to each
    /// line written inside the request: nothing is paid for it on a request that logs nothing).
    public let logger: Logger

    init(info: RequestInfo, principal: Principal? = nil, tenant: Tenant? = nil, logger: Logger) {
        self.info = info
        self.principal = principal
        self.tenant = tenant
        self.logger = logger
    }

    /// This scope with the principal the chain authenticated.
    func with(principal: Principal) -> RequestScope {
        RequestScope(info: info, principal: principal, tenant: tenant, logger: logger)
    }

    /// This scope with the tenant the chain resolved.
    func with(tenant: Tenant) -> RequestScope {
        RequestScope(info: info, principal: principal, tenant: tenant, logger: logger)
    }

    @TaskLocal public static var current: RequestScope?

    /// The current request's principal (nil outside a request or on a public route).
    public static var principal: Principal? { current?.principal }
    /// The current request's tenant (nil outside an org route).
    public static var tenant: Tenant? { current?.tenant }
    /// The current request's id, client address and user agent.
    public static var info: RequestInfo {
        current?.info ?? RequestInfo(requestID: nil, clientAddress: "unknown", userAgent: nil)
    }
}
