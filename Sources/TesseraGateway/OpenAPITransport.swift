import HTTPTypes
import Hummingbird
import NIOCore
import OpenAPIRuntime

/// The generated handlers' transport: OpenAPIHummingbird's `Router` conformance, except that a response body of
/// known length up to `Self.collectLimit` (every JSON body: the generated layer encodes it whole) is handed to
/// Hummingbird as one buffer, so head and body leave in one write. Through OpenAPIHummingbird each such
/// response was a body writer that yielded head, body and end one by one — two `write()` calls and an event-loop
/// hop each, about a tenth of a tenant read's CPU (bench/read). Streams of unknown length (exports) stream as before.
struct OpenAPITransport: ServerTransport {
    let router: Router<AppRequestContext>

    /// Bodies up to this many bytes of known length are collected before the response is written.
    static let collectLimit = 1 << 20

    func register(
        _ handler:
            @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (
                HTTPResponse, HTTPBody?
            ),
        method: HTTPRequest.Method,
        path: String
    ) throws {
        router.on(.init(path), method: method) { request, context in
            let length: HTTPBody.Length =
                if let header = request.headers[.contentLength], let count = Int(header) { .known(Int64(count)) } else {
                    .unknown
                }
            let body = HTTPBody(request.body.map { [UInt8](buffer: $0) }, length: length, iterationBehavior: .single)
            var parameters: [String: Substring] = [:]
            for (key, value) in context.parameters where parameters[String(key)] == nil {
                parameters[String(key)] = value
            }
            let (response, responseBody) = try await handler(
                request.head, body, ServerRequestMetadata(pathParameters: parameters))
            return try await Self.response(response, body: responseBody)
        }
    }

    static func response(_ response: HTTPResponse, body: HTTPBody?) async throws -> Response {
        guard let body else { return Response(status: response.status, headers: response.headerFields) }
        if case .known(let length) = body.length, length <= collectLimit {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(Int(length))
            for try await chunk in body { buffer.writeBytes(chunk) }
            return Response(status: response.status, headers: response.headerFields, body: .init(byteBuffer: buffer))
        }
        let chunks = body.map { ByteBuffer(bytes: $0) }
        guard case .known(let length) = body.length else {
            return Response(status: response.status, headers: response.headerFields, body: .init(asyncSequence: chunks))
        }
        let streamed = ResponseBody(contentLength: Int(length)) { writer in
            for try await chunk in chunks { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        return Response(status: response.status, headers: response.headerFields, body: streamed)
    }
}
