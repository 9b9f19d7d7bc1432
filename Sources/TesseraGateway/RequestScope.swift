import Foundation
import Logging
import TesseraCore

/// What the access middleware learned about a request — its id, client, principal and tenant — and a logger
/// carrying them. Generated handlers receive no request context, so this is the one task-local the gateway
/// has: set once per request by `AccessMiddleware` when the access chain has passed, read by handlers and by
/// what they call.
public struct RequestScope: Sendable {
    public var info: RequestInfo
    public var principal: Principal?
    public var tenant: Tenant?
    /// The request's logger, carrying the request id (`JSONLogHandler` adds the principal, read from here, to each
    /// line written inside the request: nothing is paid for it on a request that logs nothing).
    public var logger: Logger

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
