import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import TesseraCore
import TesseraPostgres
import TesseraProvisioning
import Tracing

/// One HTTP call to a task service, for the job engine and the health checker alike: the host asked of the outbound
/// policy first (before every call: a name may resolve elsewhere later), no redirect followed, a timeout, an answer
/// read up to `maxBody` (or not at all). A failure is one of a few kinds of ours; the remote's text never leaves it.
struct OutboundCall: Sendable {
    let policy: OutboundPolicy
    static let maxBody = 16 << 20

    /// One process-wide client that follows no redirect (never deinitialised, so never shut down in use).
    static let http = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow).untraced())

    struct Failure: Error {
        enum Kind: Equatable {
            case notURL, notPublic, unresolved, noAnswer, stopped, tooLarge
            /// A failure to connect or to talk: its category (`category(of:)`).
            case unreachable(String)
        }
        let kind: Kind
        let timeout: TimeAmount

        /// Whether another attempt may go otherwise.
        var retryable: Bool {
            switch kind {
            case .notURL, .notPublic, .tooLarge: false
            case .unresolved, .noAnswer, .stopped, .unreachable: true
            }
        }

        /// The job engine's wording (a step's error).
        var reason: String {
            switch kind {
            case .notURL: "the service URL is not a URL"
            case .notPublic: "the service's address is not public"
            case .unresolved: "the service's host does not resolve"
            case .noAnswer: "no answer within \(timeout.nanoseconds / 1_000_000_000) s"
            case .stopped: "the call was stopped"
            case .tooLarge: "the answer is larger than \(OutboundCall.maxBody >> 20) MiB"
            case .unreachable(let category): category
            }
        }

        /// The health checker's short category (`last_error`).
        var category: String {
            switch kind {
            case .notURL: "not a URL"
            case .notPublic: "address not public"
            case .unresolved: "host does not resolve"
            case .noAnswer: "no answer within \(Duration.nanoseconds(timeout.nanoseconds))"
            case .stopped: "stopped"
            case .tooLarge: "answer too large"
            case .unreachable(let category): category
            }
        }
    }

    /// `base` + `path` with `method`; a JSON `body` when given (nil: none, and no Content-Type). With `readBody`
    /// false the answer's body is left unread (a health check wants the status only).
    func send(
        base: String, path: String = "", method: String = "GET", body: Data? = nil, timeout: TimeAmount,
        readBody: Bool = true
    ) async throws -> OutboundAnswer {
        let url = (base.hasSuffix("/") && !path.isEmpty ? String(base.dropLast()) : base) + path
        func failure(_ kind: Failure.Kind) -> Failure { Failure(kind: kind, timeout: timeout) }
        guard let host = URLComponents(string: url)?.host else { throw failure(.notURL) }
        do { try await policy.check(host: host) } catch {
            throw failure(error == .notPublic ? .notPublic : .unresolved)
        }
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Accept", value: "application/json")
            if method != "GET" && method != "DELETE" { request.body = .bytes(ByteBuffer(data: body)) }
        }
        do {
            let response = try await Self.execute(
                request, host: host, path: URLComponents(string: url)?.path ?? "", timeout: timeout)
            let status = Int(response.status.code)
            if (300..<400).contains(status) {
                return OutboundAnswer(status: status, body: Data("redirect (not followed)".utf8))
            }
            guard readBody else { return OutboundAnswer(status: status, body: Data()) }
            var collected = try await response.body.collect(upTo: Self.maxBody)
            return OutboundAnswer(status: status, body: collected.readData(length: collected.readableBytes) ?? Data())
        } catch let error as HTTPClientError
            where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        {
            throw failure(.noAnswer)
        } catch is CancellationError {
            throw failure(.stopped)
        } catch is NIOTooManyBytesError {
            throw failure(.tooLarge)
        } catch {
            throw failure(.unreachable(Self.category(of: error)))
        }
    }

    /// The call, in a client span of its own when tracing is on, the trace passed on in W3C `traceparent` (the
    /// span records the host and the path, not the whole URL: it may carry credentials).
    static func execute(_ request: HTTPClientRequest, host: String, path: String, timeout: TimeAmount) async throws
        -> HTTPClientResponse
    {
        guard TraceSwitch.isOn else { return try await http.execute(request, timeout: timeout) }
        return try await withSpan("\(request.method.rawValue) task service", ofKind: .client) { span in
            span.attributes["http.request.method"] = request.method.rawValue
            span.attributes["server.address"] = host
            span.attributes["url.path"] = path
            var request = request
            InstrumentationSystem.instrument.inject(
                span.context, into: &request.headers, using: HTTPHeadersInjector())
            let response = try await http.execute(request, timeout: timeout)
            span.attributes["http.response.status_code"] = Int(response.status.code)
            return response
        }
    }

    /// What kind of failure, from the error's type and our reading of it; its text stays in our log only.
    static func category(of error: any Error) -> String {
        let text = String(describing: error).lowercased()
        if text.contains("refused") { return "connection refused" }
        if text.contains("ssl") || text.contains("tls") || text.contains("certificate") { return "TLS failure" }
        if text.contains("resolv") || text.contains("lookup") { return "host does not resolve" }
        return "unreachable"
    }
}

/// A task service's answer: status, body (at most `OutboundCall.maxBody`) and a short printable excerpt of it.
struct OutboundAnswer: Sendable {
    let status: Int
    let body: Data

    var excerpt: String {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        let printable = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 ? " " : $0 }))
        return printable.trimmingCharacters(in: .whitespaces).isEmpty ? "(no body)" : printable
    }
}
