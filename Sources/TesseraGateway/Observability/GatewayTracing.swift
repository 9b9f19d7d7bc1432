import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOHTTP1
import OTel
import ServiceLifecycle
import TesseraPostgres
import Tracing

/// Traces over OTLP, off unless the standard OpenTelemetry environment asks for them: `OTEL_TRACES_EXPORTER=otlp`,
/// or an OTLP endpoint named (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); never while
/// `OTEL_SDK_DISABLED=true`. (OpenTelemetry's own default, an exporter posting to localhost:4318 whether or not a
/// collector listens there, would make every gateway try.) The rest — protocol (`http/protobuf`, `http/json`),
/// headers, sampler, batch timing, service name — comes from the same variables, read by swift-otel.
public enum GatewayTracing {
    public static func requested(by environment: [String: String]) -> Bool {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return false }
        if let exporters = environment["OTEL_TRACES_EXPORTER"] {
            return exporters.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "otlp" }
        }
        return environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil
            || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil
    }

    /// When the environment asks for traces: installs the OTLP tracer for this process (once: the tracing system
    /// takes one backend per process), turns the gateway's spans on and returns the service that batches and
    /// exports them — run it beside the gateway and stop it after, so the last spans are sent. Nil otherwise.
    public static func bootstrap(
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger
    ) throws -> (any Service)? {
        guard requested(by: environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "tessera"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning  // not a line per variable read at start-up
        let (tracer, exporter) = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(tracer)
        TraceSwitch.turnOn()
        return exporter
    }
}

/// A server span per request, continuing the caller's trace when it sends W3C `traceparent`: named by method and
/// route template once routed, with the request id, the path (credentials in it redacted, as in logs), and the
/// status. No query string, header or body is recorded. Added to the chain only while tracing is on.
struct RequestTracingMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var parent = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: HTTPFieldsExtractor())
        let method = request.method.rawValue
        let span = startSpan("\(method) (no route)", context: parent, ofKind: .server)
        span.updateAttributes { attributes in
            attributes["http.request.method"] = method
            attributes["url.path"] = SecretPath.redacted(request.uri.path)
            attributes["tessera.request_id"] = context.requestID
        }
        defer { span.end() }
        do {
            let response = try await ServiceContext.$current.withValue(span.context) {
                try await next(request, context)
            }
            finish(span, method: method, context: context, status: Int(response.status.code))
            return response
        } catch {
            finish(span, method: method, context: context, status: (error as? any HTTPResponseError)?.status.code)
            span.recordError(error)
            throw error
        }
    }

    func finish(_ span: any Span, method: String, context: Context, status: Int?) {
        if let route = context.endpointPath { span.operationName = "\(method) \(route)" }
        span.updateAttributes { attributes in
            attributes["http.route"] = context.endpointPath
            attributes["http.response.status_code"] = status
        }
        if (status ?? 500) >= 500 { span.setStatus(.init(code: .error)) }
    }
}

/// Reads trace context from a request's header fields.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}

/// Writes trace context into an outgoing call's headers (`traceparent`, `tracestate`).
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}
