import Hummingbird
import NIOCore
import TesseraCore

/// `POST …/datasets/{id}/rows` with a JSON array: the array is split into NDJSON as it arrives
/// (`RowImport.ArraySplitter`, one line per element) and handed on as `application/x-ndjson`, so an import of
/// either kind streams to disk in bounded memory. (The generated layer would decode the whole array first: a
/// 64 MiB body became about 300 MiB of values, then was encoded again to be parsed row by row.)
struct RowsArrayMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        guard request.method == .post, path.hasSuffix("/rows"), path.contains("/datasets/"),
            request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true
        else {
            return try await next(request, context)
        }
        var head = request.head
        head.headerFields[.contentType] = "application/x-ndjson"
        head.headerFields[.contentLength] = nil  // the lines are not the array's length
        let lines = Request(head: head, body: RequestBody(asyncSequence: ArrayLines(base: request.body)))
        return try await next(lines, context)
    }
}

/// The NDJSON lines of a JSON array body, as its bytes arrive; throws `RowImport.Problem` for a body that is
/// not one array.
struct ArrayLines: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        var splitter = RowImport.ArraySplitter()
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            while !finished {
                guard let buffer = try await base.next() else {
                    finished = true
                    try splitter.finish()
                    return nil
                }
                let lines = try splitter.lines(from: buffer.readableBytesView)
                if !lines.isEmpty { return ByteBuffer(bytes: lines) }
            }
            return nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator())
    }
}
