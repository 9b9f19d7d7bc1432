import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Outermost middleware: honours a client's `X-Request-Id` (or makes one), puts it in every log line
/// and in the response, and writes one access log line per request. It also gives `Location`, `Set-Cookie` and a
/// download's `ETag`, `Content-Range` and `Content-Disposition` back as their route wrote them: the generated
/// OpenAPI layer writes header values URI-encoded ("simple" style), which turns a URL into a path no browser
/// follows, a cookie's attributes into its value and an ETag's quotes into `%22`.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let id = request.headers[.requestID].flatMap(Self.acceptable) ?? Self.newID()
        var context = context
        context.logger[metadataKey: "request_id"] = .string(id)
        let started = ContinuousClock.now
        var response = try await next(request, context)
        response.headers[.requestID] = id
        for name in writtenAsIs {
            if let value = response.headers[name], value.contains("%") {
                response.headers[name] = value.removingPercentEncoding ?? value
            }
        }
        if context.logger.logLevel <= .info {
            let elapsed = ContinuousClock.now - started
            Self.logAccess(
                method: request.method.rawValue, path: SecretPath.redacted(request.uri.path),
                status: String(response.status.code), milliseconds: Self.milliseconds(elapsed), to: context.logger)
        }
        return response
    }

    /// The access line, `request` at info: its fields handed to the JSON handler in one array made with room for
    /// the rest of the line (no metadata dictionary made and merged for it), or through `Logger` to any other
    /// handler.
    static func logAccess(method: String, path: String, status: String, milliseconds: String, to logger: Logger) {
        guard let handler = logger.handler as? JSONLogHandler else {
            logger.info(
                "request",
                metadata: [
                    "method": .string(method), "path": .string(path), "status": .string(status),
                    "duration_ms": .string(milliseconds),
                ])
            return
        }
        var fields: [(String, LogLine.Value)] = []
        fields.reserveCapacity(4 + handler.metadata.count + JSONLogHandler.room)
        fields.append(("method", .string(method)))
        fields.append(("path", .string(path)))
        fields.append(("status", .string(status)))
        fields.append(("duration_ms", .string(milliseconds)))
        handler.write(level: .info, message: "request", fields: consume fields)
    }

    /// A random (version 4) UUID, lower-case: its 16 bytes from one `arc4random_buf` (glibc: one `getrandom`;
    /// Foundation's `UUID()` opens, reads and closes `/dev/urandom` on Linux, and `SystemRandomNumberGenerator`
    /// makes a call for each 8 bytes), written into the string's own storage (`uuidString.lowercased()` made two
    /// strings).
    static func newID() -> String {
        var bytes: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &bytes) { raw in
            arc4random_buf(raw.baseAddress!, 16)
            raw[6] = (raw[6] & 0x0F) | 0x40
            raw[8] = (raw[8] & 0x3F) | 0x80
        }
        return withUnsafeBytes(of: &bytes) { raw in
            String(unsafeUninitializedCapacity: 36) { out in
                var at = 0
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    let high = byte >> 4
                    let low = byte & 0x0f
                    out[at] = high < 10 ? 48 + high : 87 + high
                    out[at + 1] = low < 10 ? 48 + low : 87 + low
                    at += 2
                }
                return at
            }
        }
    }

    /// `elapsed` in milliseconds with three decimals ("12.345"), without `String(format:)` (its `vsnprintf` was a
    /// visible part of an access line's cost).
    static func milliseconds(_ elapsed: Duration) -> String {
        let micros = max(0, elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)
        let fraction = String(micros % 1000)
        return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// A client-sent id is kept when it is 1–128 visible ASCII characters.
    static func acceptable(_ value: String) -> String? {
        guard (1...128).contains(value.utf8.count), value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            return nil
        }
        return value
    }
}

/// The response headers `RequestIDMiddleware` gives back as written (see there).
private let writtenAsIs: [HTTPField.Name] = [.location, .setCookie, .eTag, .contentRange, .contentDisposition]
