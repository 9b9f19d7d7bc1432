/// Every error a client may see, each with its HTTP status and a stable problem `type`.
///
/// Handlers throw these; the gateway maps them to `application/problem+json` in one place.
public enum TesseraError: Error, Equatable, Sendable {
    case badRequest(String)
    case unauthorized(String)
    case forbidden(String)
    case notFound(String)
    case methodNotAllowed(method: String, allowed: [String])
    case conflict(String)
    case payloadTooLarge(limit: Int)
    /// The body did not arrive in time (408).
    case requestTimeout(String)
    /// A `Range` no byte of a `size`-byte representation is in (416).
    case rangeNotSatisfiable(size: Int)
    case unprocessable(String)
    /// 422 with every problem found, each naming where it is.
    case invalid([String])
    case tooManyRequests(retryAfterSeconds: Int)
    /// 409: the org's quota would be passed (its name, its limit, what the org uses now).
    case quotaExceeded(quota: String, limit: Int, used: Int)
    case unavailable(String)
    case internalError

    public var statusCode: Int {
        switch self {
        case .badRequest: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound: 404
        case .methodNotAllowed: 405
        case .conflict, .quotaExceeded: 409
        case .requestTimeout: 408
        case .payloadTooLarge: 413
        case .rangeNotSatisfiable: 416
        case .unprocessable, .invalid: 422
        case .tooManyRequests: 429
        case .unavailable: 503
        case .internalError: 500
        }
    }

    /// The stable problem type, a URI reference clients may switch on.
    public var type: String {
        let slug =
            switch self {
            case .badRequest: "bad-request"
            case .unauthorized: "unauthorized"
            case .forbidden: "forbidden"
            case .notFound: "not-found"
            case .methodNotAllowed: "method-not-allowed"
            case .conflict: "conflict"
            case .quotaExceeded: "quota-exceeded"
            case .payloadTooLarge: "payload-too-large"
            case .requestTimeout: "request-timeout"
            case .rangeNotSatisfiable: "range-not-satisfiable"
            case .unprocessable, .invalid: "unprocessable"
            case .tooManyRequests: "too-many-requests"
            case .unavailable: "unavailable"
            case .internalError: "internal"
            }
        return "https://tessera.dev/problems/\(slug)"
    }

    /// The quota of `.quotaExceeded`: its name, limit and current use, named in the body.
    public var quota: (name: String, limit: Int, used: Int)? {
        if case .quotaExceeded(let name, let limit, let used) = self { return (name, limit, used) }
        return nil
    }

    /// The problems of `.invalid`, listed in the body.
    public var problems: [String]? {
        if case .invalid(let list) = self { return list }
        return nil
    }

    public var title: String {
        switch self {
        case .badRequest: "Bad request"
        case .unauthorized: "Unauthorized"
        case .forbidden: "Forbidden"
        case .notFound: "Not found"
        case .methodNotAllowed: "Method not allowed"
        case .conflict: "Conflict"
        case .quotaExceeded: "Quota exceeded"
        case .payloadTooLarge: "Payload too large"
        case .requestTimeout: "Request timeout"
        case .rangeNotSatisfiable: "Range not satisfiable"
        case .unprocessable, .invalid: "Unprocessable content"
        case .tooManyRequests: "Too many requests"
        case .unavailable: "Service unavailable"
        case .internalError: "Internal error"
        }
    }

    public var detail: String {
        switch self {
        case .badRequest(let d), .unauthorized(let d), .forbidden(let d), .notFound(let d),
            .conflict(let d), .unprocessable(let d), .unavailable(let d), .requestTimeout(let d):
            d
        case .methodNotAllowed(let method, let allowed):
            "\(method) is not allowed here; allowed: \(allowed.joined(separator: ", "))"
        case .payloadTooLarge(let limit):
            "the request body is larger than the limit of \(limit) bytes"
        case .rangeNotSatisfiable(let size):
            "the range asks for bytes the \(size) bytes do not have"
        case .quotaExceeded(let quota, let limit, let used):
            "the org's \(quota) quota is \(limit) and it uses \(used); a platform admin may raise it (PUT /v1/orgs/{org}/quotas)"
        case .tooManyRequests(let seconds):
            "too many failed attempts; retry after \(seconds) seconds"
        case .invalid(let problems):
            "\(problems.count) problem\(problems.count == 1 ? "" : "s"): \(problems.joined(separator: "; "))"
        case .internalError:
            "an internal error occurred; the request id identifies it in the server log"
        }
    }
}
