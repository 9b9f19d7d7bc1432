import Foundation
import Testing

@testable import TesseraCore
@testable import TesseraGateway

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The Prometheus listener of a real `tessera serve`: on its own port (not the API's), the documented names with
/// their types, and counters that move with the requests made.
@Suite struct MetricsTests {
    @Test func aScrapeShowsTheMetricsAndARequestMovesItsCounter() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let metricsPort = Int.random(in: 20_000..<32_000)
            let gateway = try await TwoGatewayTests.Gateway.started(
                settings, environment: ["TESSERA_METRICS_PORT": String(metricsPort)])
            defer { gateway.stop() }
            #expect(try await gateway.status("GET", "/metrics", key: nil) == 404, "metrics are not on the API's port")

            let whoami: [String: String] = ["route": "/v1/auth/whoami", "method": "GET", "status": "200"]
            let keys = "/v1/orgs/\(fixture.orgA)/api-keys"
            let first = try await Self.scrape(metricsPort)
            let types = [
                ("tessera_http_requests_total", "counter"), ("tessera_http_request_duration_seconds", "histogram"),
                ("tessera_http_active_requests", "gauge"), ("tessera_tenant_pools_open", "gauge"),
                ("tessera_tenant_connections", "gauge"), ("tessera_tenant_connections_limit", "gauge"),
                ("tessera_audit_relay_lag_seconds", "gauge"), ("tessera_audit_relay_waiting_orgs", "gauge"),
                ("tessera_audit_queued_records", "gauge"), ("tessera_mail_outbox_backlog", "gauge"),
                ("tessera_job_executions_in_flight", "gauge"),
            ]
            for (name, type) in types where name != "tessera_http_requests_total" {
                #expect(first.contains("# TYPE \(name) \(type)\n"), "\(name) is not a \(type) in the first scrape")
            }
            let requestsBefore = Self.value(first, "tessera_http_requests_total", whoami) ?? 0
            let malformedBefore =
                Self.value(first, "tessera_auth_failures_total", ["reason": "malformed credentials"]) ?? 0
            for _ in 0..<3 {
                #expect(try await gateway.status("GET", "/v1/auth/whoami", key: fixture.viewerA.plaintext) == 200)
            }
            #expect(try await gateway.status("GET", keys, key: "not-a-key") == 401)
            #expect(try await gateway.status("GET", keys, key: fixture.viewerA.plaintext) == 403)

            let second = try await Self.scrape(metricsPort)
            for (name, type) in types + [("tessera_auth_failures_total", "counter")] {
                #expect(second.contains("# TYPE \(name) \(type)\n"), "\(name) is not a \(type)")
            }
            #expect(Self.value(second, "tessera_http_requests_total", whoami) == requestsBefore + 3)
            #expect(
                Self.value(second, "tessera_http_request_duration_seconds_count", whoami).map {
                    $0 >= requestsBefore + 3
                }
                    == true)
            #expect(
                Self.value(second, "tessera_auth_failures_total", ["reason": "malformed credentials"])
                    == malformedBefore + 1)
            let denied = ["route": "/v1/orgs/{org}/api-keys", "method": "GET", "status": "403"]
            #expect(Self.value(second, "tessera_http_requests_total", denied) == 1, "a route is its template")
            #expect(Self.value(second, "tessera_tenant_connections_limit", [:]).map { $0 > 0 } == true)
            // No secret and, without metrics.per_org, no org id in any series.
            #expect(
                !second.contains(fixture.viewerA.plaintext) && !second.contains(fixture.orgA.uuidString.lowercased()))
        }
    }

    static func scrape(_ port: Int) async throws -> String {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        let http = response as? HTTPURLResponse
        #expect(http?.statusCode == 200)
        #expect(http?.value(forHTTPHeaderField: "Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        return String(decoding: data, as: UTF8.self)
    }

    /// The value of the series of `name` whose labels include `labels` (nil when none has them).
    static func value(_ text: String, _ name: String, _ labels: [String: String]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let rest = line.dropFirst(name.count)
            var found: [String: String] = [:]
            var valuePart = rest
            if rest.first == "{", let close = rest.lastIndex(of: "}") {
                for pair in rest[rest.index(after: rest.startIndex)..<close].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    found[String(parts[0])] = String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
                valuePart = rest[rest.index(after: close)...]
            } else if rest.first != " " {
                continue  // another metric whose name starts with this one
            }
            if labels.allSatisfy({ found[$0.key] == $0.value }) {
                return Double(valuePart.trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }
}
