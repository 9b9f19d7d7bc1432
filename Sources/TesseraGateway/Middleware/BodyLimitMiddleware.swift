import Hummingbird
import TesseraCore

/// Refuses request bodies over the limit with 413, before routing and authentication:
/// at once from `Content-Length`, or while streaming when there is none.
public struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let standard: Int
    /// Bulk imports (`POST …/rows`), batches of results (`POST …/predictions`), ontologies, annotation and
    /// prediction sets, and CAFA evaluations (which carry an information-accretion file) may be larger.
    let imports: Int

    public init(limit: Int, importLimit: Int? = nil) {
        self.standard = limit
        self.imports = importLimit ?? limit
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let path = request.uri.path
        let bulk = request.method == .post && bulkSuffixes.contains { path.hasSuffix($0) }
        let limit = bulk ? imports : standard
        if let declared = request.headers[.contentLength] {
            guard let length = Int(declared), length >= 0 else {
                throw TesseraError.badRequest("Content-Length is not a number")
            }
            guard length <= limit else { throw TesseraError.payloadTooLarge(limit: limit) }
            return try await next(request, context)
        }
        var request = request
        request.body = RequestBody(asyncSequence: LimitedBody(base: request.body, limit: limit))
        return try await next(request, context)
    }
}

/// Paths whose POST bodies get the import limit (a constant: generic types cannot hold static stored properties).
private let bulkSuffixes = [
    "/rows", "/predictions", "/ontologies", "/annotation-sets", "/prediction-sets", "/cafa-evaluations",
]

/// A request body that throws `payloadTooLarge` once more than `limit` bytes have arrived.
struct LimitedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let limit: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let limit: Int
        var seen = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            seen += buffer.readableBytes
            if seen > limit { throw TesseraError.payloadTooLarge(limit: limit) }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), limit: limit)
    }
}
