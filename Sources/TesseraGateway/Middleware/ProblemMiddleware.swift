import Hummingbird
import Logging
import OpenAPIRuntime
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Turns every error below it into an `application/problem+json` response: Tessera's own errors as they are,
/// the router's 404 into 404 or 405 (from the contract's route table), anything unexpected into a logged 500.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            let problem = classify(error, request: request, context: context)
            var headers: HTTPFields = [:]
            switch problem {
            case .methodNotAllowed(_, let allowed): headers[.allow] = allowed.joined(separator: ", ")
            case .tooManyRequests(let seconds): headers[.retryAfter] = String(seconds)
            case .unavailable: headers[.retryAfter] = "1"  // a database back, a connection free: worth a retry soon
            case .unauthorized: headers[.wwwAuthenticate] = "Bearer"
            case .rangeNotSatisfiable(let size): headers[.contentRange] = "bytes */\(size)"
            default: break
            }
            return Problem(problem, instance: SecretPath.redacted(request.uri.path), requestID: context.requestID)
                .response(
                    extraHeaders: headers)
        }
    }

    func classify(_ error: any Error, request: Request, context: Context) -> TesseraError {
        switch error {
        case let error as TesseraError:
            return error
        case let error as ServerError:
            // The generated server wraps what handlers and decoders throw.
            if let inner = error.underlyingError as? TesseraError { return inner }
            if (400..<500).contains(error.httpStatus.code) {
                // The runtime's own verdict on a malformed request (bad JSON, missing parameter, wrong type).
                return .badRequest("\(error.causeDescription): \(error.underlyingError)")
            }
            return classify(error.underlyingError, request: request, context: context)
        case let error as PSQLError
        where ["22021", "22P05"].contains(error.serverInfo?[.sqlState] ?? ""):
            // Text PostgreSQL cannot store (a NUL, a byte sequence invalid in UTF-8), from a query parameter or a
            // bulk body the JSON check does not read: the client's, not ours.
            return .badRequest("a text value holds a character that cannot be stored (a NUL, \\u0000)")
        case let error as PSQLError where error.serverInfo?[.sqlState] == "23514":
            // A CHECK constraint refused a value the handler did not validate: the client's value, our missing
            // check (logged, so it gets one), never a 500.
            let constraint = error.serverInfo?[.constraintName] ?? "a check"
            context.logger.warning(
                "a value reached a database check unvalidated", metadata: ["constraint": "\(constraint)"])
            return .unprocessable("a value is out of range (\(constraint))")
        case let error as PSQLError where error.serverInfo?[.sqlState] == "23503":
            // A reference to an object deleted between the handler's check and its write (a version added to a
            // pipeline being deleted, say): the race is the client's to retry, not a 500.
            context.logger.notice(
                "a referenced object went meanwhile",
                metadata: ["constraint": "\(error.serverInfo?[.constraintName] ?? "-")"])
            return .conflict("an object this request refers to was deleted meanwhile")
        case is DeadlineExceeded:
            return .unavailable("the database did not answer in time")
        case let error where isConnectionFailure(error):
            context.logger.warning("database unreachable", metadata: ["error": "\(describeDatabaseError(error))"])
            return .unavailable("the database is unreachable")
        case let error as PostgresTransactionError:
            // A handler's error inside a transaction: the transaction was rolled back; report the cause.
            if let cause = error.closureError { return classify(cause, request: request, context: context) }
            context.logger.error("transaction failed", metadata: ["error": "\(describeDatabaseError(error))"])
            return .internalError
        case let error as HTTPError:
            switch error.status {
            case .notFound:
                if let allowed = routes.allowedMethods(for: request.uri.path),
                    !allowed.contains(request.method.rawValue)
                {
                    return .methodNotAllowed(method: request.method.rawValue, allowed: allowed)
                }
                return .notFound("no route for \(request.method.rawValue) \(SecretPath.redacted(request.uri.path))")
            case .contentTooLarge:
                return .payloadTooLarge(limit: context.maxUploadSize)
            case .badRequest:
                return .badRequest(error.body ?? "the request is malformed")
            case .unsupportedMediaType:
                return .badRequest(error.body ?? "unsupported content type")
            default:
                context.logger.error("unmapped HTTP error", metadata: ["status": "\(error.status.code)"])
                return .internalError
            }
        case is DecodingError:
            return .badRequest("the request body is not valid JSON for this route: \(error)")
        default:
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return .internalError
        }
    }
}
