import Foundation
import Hummingbird
import Synchronization
import TesseraCore

#if canImport(Glibc)
    import Glibc
#endif

/// Refuses request bodies over the limit with 413, before routing and authentication:
/// at once from `Content-Length`, or while streaming when there is none. A JSON body (not a bulk one) holding a
/// NUL (`\u0000`), which no text column can store, is a 400 naming the field.
public struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let standard: Int
    /// Bulk imports (`POST …/rows`), batches of results (`POST …/predictions`), ontologies, annotation and
    /// prediction sets, and CAFA evaluations (which carry an information-accretion file) may be larger.
    let imports: Int
    /// Artifacts (`POST …/artifacts`) are written to the artifact store as they arrive.
    let artifacts: Int

    public init(limit: Int, importLimit: Int? = nil, artifactLimit: Int? = nil) {
        self.standard = limit
        self.imports = importLimit ?? limit
        self.artifacts = artifactLimit ?? limit
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let kind = BulkBody.of(request.method, path: request.uri.path)
        let bulk = kind != nil
        let limit =
            switch kind {
            case .artifact: artifacts
            case .spooled, .parsed, .inMemory: imports
            case nil: standard
            }
        var request = request
        if let declared = request.headers[.contentLength] {
            guard let length = Int(declared), length >= 0 else {
                throw TesseraError.badRequest("Content-Length is not a number")
            }
            guard length <= limit else { throw TesseraError.payloadTooLarge(limit: limit) }
        } else {
            request.body = RequestBody(asyncSequence: LimitedBody(base: request.body, limit: limit))
        }
        // What a bulk body held (tens of MiB, freed in pieces by the threads that parsed it) goes back to the
        // system once it is answered: glibc keeps freed heap in each thread's arena otherwise, and the process's
        // resident memory would only grow from one bulk body to the next.
        defer { if bulk { HeapTrim.afterBulkBody(declaredBytes: request.headers[.contentLength].flatMap { Int($0) }) } }
        return try await next(try await Self.refusingNUL(request, bulk: bulk, limit: limit), context)
    }

    /// The request (its JSON body read into memory, as the decoder would) unless a string in it holds a NUL.
    static func refusingNUL(_ request: Request, bulk: Bool, limit: Int) async throws -> Request {
        guard !bulk, request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            return request
        }
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        guard buffer.readableBytesView.firstRange(of: Array(#"\u0000"#.utf8)) != nil else { return request }
        let field =
            (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView), options: [.fragmentsAllowed]))
            .flatMap { JSONPath.firstNUL(in: $0) } ?? "a string"
        throw TesseraError.badRequest("\(field) holds a NUL character (\\u0000), which text cannot hold")
    }
}

/// Returns the heap's free pages to the system (`malloc_trim`), after a large bulk body: a few milliseconds.
/// (`malloc.h` is not in the Glibc module: the function is looked up once, by name.)
enum HeapTrim {
    private static let trim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
            guard let symbol = dlsym(nil, "malloc_trim") else { return nil }  // nil: RTLD_DEFAULT
            return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
            return nil
        #endif
    }()

    /// Whether this C library has `malloc_trim` (glibc's does).
    static var available: Bool { trim != nil }

    /// At most once a second, so a worker sending small batches quickly does not pay it on each.
    private static let last = Mutex<ContinuousClock.Instant?>(nil)
    /// Below this a body is not worth a trim (one whose length is not declared may be large).
    static let worthIt = 4 << 20

    static func afterBulkBody(declaredBytes: Int?) {
        if let declaredBytes, declaredBytes < worthIt { return }
        let now = ContinuousClock.now
        let due = last.withLock { last in
            guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            last = now
            return true
        }
        if due { releaseFreedMemory() }
    }

    static func releaseFreedMemory() {
        _ = trim?(0)
    }
}

/// Where in a decoded JSON value a string holds a NUL.
enum JSONPath {
    static func firstNUL(in value: Any, at path: String = "") -> String? {
        switch value {
        case let text as String:
            return text.utf8.contains(0) ? (path.isEmpty ? "the body" : path) : nil
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                let here = path.isEmpty ? key : "\(path).\(key)"
                if key.utf8.contains(0) { return "a field name in \(path.isEmpty ? "the body" : path)" }
                if let found = firstNUL(in: object[key]!, at: here) { return found }
            }
            return nil
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let found = firstNUL(in: element, at: "\(path)[\(index)]") { return found }
            }
            return nil
        default:
            return nil
        }
    }
}

/// The bulk bodies (`POST` to these paths), which get the import limit: row imports and annotation sets spooled
/// to disk as they arrive by their handlers; ontologies, prediction sets and FASTA query sets spooled by the access chain and parsed
/// from there into what they hold; JSON bodies (batches of results, CAFA evaluations with their
/// information-accretion file, embedding vectors) held in memory while they are decoded.
enum BulkBody: Equatable {
    case spooled
    /// Text parsed into memory as it streams (the body itself goes to a spool file first, within the bulk deadline).
    case parsed
    case inMemory
    /// Streamed to the artifact store.
    case artifact

    static func of(_ method: HTTPRequest.Method, path: String) -> BulkBody? {
        // An ontology's information-accretion file (one line a term: tens of thousands for GO).
        if method == .put, path.hasSuffix("/information-accretion") { return .parsed }
        guard method == .post else { return nil }
        if path.hasSuffix("/rows") || path.hasSuffix("/annotation-sets") { return .spooled }
        if path.hasSuffix("/artifacts") || path.hasPrefix("/v1/task-artifacts/") { return .artifact }
        if path.hasSuffix("/ontologies") || path.hasSuffix("/prediction-sets") || path.hasSuffix("/query-sets") {
            return .parsed
        }
        return inMemorySuffixes.contains { path.hasSuffix($0) } ? .inMemory : nil
    }

    /// Held in memory while parsed: admitted a bounded number at a time (`work.bulk_bodies*`).
    var isGated: Bool { self == .parsed || self == .inMemory }

    private static let inMemorySuffixes = ["/predictions", "/cafa-evaluations", "/vectors"]
}

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
