import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore

/// An RFC 9457 problem document, the body of every error response.
struct Problem: Codable, Sendable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var instance: String?
    var request_id: String?
    var problems: [String]?
    /// For `quota-exceeded`: which quota, its limit, the org's use.
    var quota: String?
    var limit: Int?
    var used: Int?

    init(_ error: TesseraError, instance: String?, requestID: String?) {
        self.type = error.type
        self.title = error.title
        self.status = error.statusCode
        self.detail = error.detail
        self.instance = instance
        self.request_id = requestID
        self.problems = error.problems
        if let quota = error.quota { (self.quota, self.limit, self.used) = (quota.name, quota.limit, quota.used) }
    }

    static let contentType = "application/problem+json"

    func response(extraHeaders: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data()
        var headers = extraHeaders
        headers[.contentType] = Self.contentType
        return Response(
            status: .init(code: status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension TesseraError: HTTPResponseError {
    public var status: HTTPResponse.Status { .init(code: statusCode) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Problem(self, instance: SecretPath.redacted(request.uri.path), requestID: context.requestID).response()
    }
}

/// Paths whose last segment is a credential (a signed download link, an execution's callback or upload token):
/// what a log line or a problem document shows of them keeps the ids before the secret's last dot-separated part
/// and replaces that part with `…`.
enum SecretPath {
    static let prefixes = ["/v1/artifact-downloads/", "/v1/task-callbacks/", "/v1/task-artifacts/"]

    static func redacted(_ path: String) -> String {
        guard let prefix = prefixes.first(where: { path.hasPrefix($0) }) else { return path }
        let token = path.dropFirst(prefix.count)
        guard let dot = token.lastIndex(of: ".") else { return prefix + "…" }
        return prefix + token[..<dot] + ".…"
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}

extension RequestContext {
    /// The request id set by `RequestIDMiddleware`.
    var requestID: String? { logger[metadataKey: "request_id"]?.description }
}
