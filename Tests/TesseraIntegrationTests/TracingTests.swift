import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing

@testable import TesseraCore
@testable import TesseraGateway

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A real `tessera serve` with the standard OpenTelemetry variables pointing at an OTLP/HTTP (JSON) receiver the test
/// runs: a request that arrives with a W3C `traceparent` is continued (server span, the access chain, its SQL, the
/// org database's unit of work and statements), and a call to a task service (the health check) carries the trace on.
@Suite struct TracingTests {
    /// One exported span, flattened from OTLP's resource → scope → span nesting.
    struct ExportedSpan {
        let name: String
        let traceID: String
        let spanID: String
        let parentSpanID: String
        let kind: Int
        let attributes: [String: String]
        let service: String?
    }

    @Test func aRequestAndATaskServiceCallAreExportedInOneTraceEach() async throws {
        let exports = Mutex<[Data]>([])
        let healthParents = Mutex<[String]>([])
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 32 << 20)
            exports.withLock { $0.append(Data(buffer: body)) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        router.get("/health") { request, _ -> HTTPResponse.Status in
            if let parent = request.headers[HTTPField.Name("traceparent")!] {
                healthParents.withLock { $0.append(parent) }
            }
            return .ok
        }
        try await TaskHealthTests.serving(router) { url in
            try await TaskHealthTests.withDefinition("tracing", configure: { _ in }) { env, calls, definition in
                _ = try await calls.create(
                    "/task-services", #"{"task_definition_id":"\#(definition)","service_url":"\#(url)"}"#)
                let gateway = try await TwoGatewayTests.Gateway.started(
                    env.settings,
                    environment: [
                        "OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
                        "OTEL_BSP_SCHEDULE_DELAY": "100", "TESSERA_WORK_HEALTH_INTERVAL_SECONDS": "1",
                        "TESSERA_WORK_ALLOW_PRIVATE_SERVICES": "true",
                    ])
                defer { gateway.stop() }

                let traceID = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
                let callerSpan = "00f067aa0ba902b7"
                var request = URLRequest(
                    url: URL(string: "http://127.0.0.1:\(gateway.port)/v1/orgs/\(calls.org)/datasets")!)
                request.setValue("Bearer \(calls.key.plaintext)", forHTTPHeaderField: "Authorization")
                request.setValue("00-\(traceID)-\(callerSpan)-01", forHTTPHeaderField: "traceparent")
                let (_, response) = try await URLSession.shared.data(for: request)
                #expect((response as? HTTPURLResponse)?.statusCode == 200)

                // The request's spans, and a health check's, arrive within a few export rounds.
                var spans: [ExportedSpan] = []
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    spans = try exports.withLock { $0 }.flatMap(Self.spans(in:))
                    // The server span ends when the middleware returns, after its children, so it may come an
                    // export after them: the request is done when both are in.
                    let requestDone =
                        spans.contains { $0.traceID == traceID && $0.name == "org database" }
                        && spans.contains { $0.traceID == traceID && $0.kind == 2 }
                    if requestDone && !healthParents.withLock({ $0 }).isEmpty
                        && spans.contains(where: { $0.kind == 3 && $0.name == "GET task service" })
                    {
                        break
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                let trace = spans.filter { $0.traceID == traceID }
                let server = try #require(
                    trace.first { $0.kind == 2 }, "no server span in the caller's trace: \(spans.map(\.name))")
                #expect(server.name == "GET /v1/orgs/{org}/datasets")
                #expect(server.parentSpanID == callerSpan, "the caller's span is the server span's parent")
                #expect(server.attributes["http.response.status_code"] == "200")
                #expect(server.attributes["http.route"] == "/v1/orgs/{org}/datasets")
                #expect(server.service == "tessera")
                let access = try #require(trace.first { $0.name == "access" })
                #expect(access.parentSpanID == server.spanID)
                #expect(access.attributes["tessera.rule"] == "predictions.read")
                let tenant = try #require(trace.first { $0.name == "org database" })
                #expect(tenant.attributes["tessera.org_id"] == calls.org.uuidString.lowercased())
                let statements = trace.filter { $0.kind == 3 && $0.attributes["db.system.name"] == "postgresql" }
                #expect(
                    statements.contains {
                        $0.parentSpanID == tenant.spanID && $0.attributes["db.query.text"]?.contains("datasets") == true
                    }, "the org database's statements are its children")
                #expect(
                    statements.contains { $0.parentSpanID == access.spanID }, "the access chain's look-ups are its own")
                // Bound values never reach a span: the key (its secret and its prefix) appears nowhere.
                let everything = String(decoding: exports.withLock { $0 }.reduce(Data(), +), as: UTF8.self)
                #expect(!everything.contains(calls.key.plaintext) && !everything.contains(calls.key.prefix))

                // The health check's call carried its own client span's context to the service.
                let parents = healthParents.withLock { $0 }
                let clientSpans = spans.filter { $0.kind == 3 && $0.name == "GET task service" }
                #expect(
                    parents.contains { parent in
                        clientSpans.contains { parent == "00-\($0.traceID)-\($0.spanID)-01" }
                    }, "traceparent \(parents) names no exported client span")
                #expect(clientSpans.first?.attributes["url.path"] == "/health")
            }
        }
    }

    /// The spans of one OTLP/HTTP JSON export. Ids are hex as OTLP's JSON mapping says; base64 (protobuf's own JSON
    /// mapping of bytes) is read too.
    static func spans(in export: Data) throws -> [ExportedSpan] {
        guard let document = try JSONSerialization.jsonObject(with: export) as? [String: Any] else { return [] }
        var spans: [ExportedSpan] = []
        for resourceSpans in document["resourceSpans"] as? [[String: Any]] ?? [] {
            let resource = attributes((resourceSpans["resource"] as? [String: Any])?["attributes"])
            for scope in resourceSpans["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scope["spans"] as? [[String: Any]] ?? [] {
                    spans.append(
                        ExportedSpan(
                            name: span["name"] as? String ?? "", traceID: hex(span["traceId"]),
                            spanID: hex(span["spanId"]), parentSpanID: hex(span["parentSpanId"]),
                            kind: span["kind"] as? Int ?? 0, attributes: attributes(span["attributes"]),
                            service: resource["service.name"]))
                }
            }
        }
        return spans
    }

    static func attributes(_ value: Any?) -> [String: String] {
        var out: [String: String] = [:]
        for attribute in value as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any],
                let first = value.first
            else { continue }
            out[key] = "\(first.value)"
        }
        return out
    }

    static func hex(_ value: Any?) -> String {
        guard let text = value as? String, !text.isEmpty else { return "" }
        if text.count % 16 == 0, text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let bytes = Data(base64Encoded: text) else { return text }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }
}
