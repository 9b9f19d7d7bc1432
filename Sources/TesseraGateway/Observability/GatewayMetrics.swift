import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import PostgresNIO
import Prometheus
import Synchronization
import TesseraCore
import TesseraPostgres

/// The process's Prometheus registry, installed as the swift-metrics backend on first use. swift-metrics takes one
/// backend per process, so every application built in it (the tests build many) records into this one.
enum MetricsRegistry {
    static let shared: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        ]
        factory.nameAndLabelSanitizer = { name, labels in
            (prometheusName(name), labels.map { (labelNames[$0.0] ?? prometheusName($0.0), $0.1) })
        }
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Hummingbird's metric names (OpenTelemetry's dotted ones) as this gateway exposes them.
    static let names = [
        "hb.requests": "tessera_http_requests_total",
        "hb.request.errors": "tessera_http_request_errors_total",
        "http.server.request.duration": "tessera_http_request_duration_seconds",
        "http.server.active_requests": "tessera_http_active_requests",
    ]
    static let labelNames = [
        "http.route": "route", "http.request.method": "method", "http.response.status_code": "status",
        "error.type": "status",
    ]

    /// A Prometheus metric or label name: letters, digits, `_` and `:`, not starting with a digit.
    static func prometheusName(_ name: String) -> String {
        if let renamed = names[name] { return renamed }
        var out = ""
        for (index, scalar) in name.unicodeScalars.enumerated() {
            let allowed =
                scalar == "_" || scalar == ":" || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
                || (index > 0 && ("0"..."9").contains(scalar))
            out.unicodeScalars.append(allowed ? scalar : "_")
        }
        return out
    }
}

/// The metrics listener: `GET /metrics` in Prometheus's text format, on `metrics.host:metrics.port`, never on the
/// API's listener. Gauges of state (tenant pools, the audit relay, the mail outbox, calls in flight) are read when
/// scraped; counters and histograms are recorded where things happen.
final class MetricsEndpoint: Sendable {
    let registry: PrometheusCollectorRegistry
    let tenants: TenantDatabases
    let relay: AuditRelay
    let metadata: PostgresClient
    let box: SecretBox
    let engine: JobEngine.InFlight
    let perOrg: Bool
    let logger: Logger
    /// The servers (and, with `perOrg`, orgs) a scrape has shown: one that has no pool open any more reads 0, not
    /// the last value it had.
    let seen = Mutex<(servers: Set<String>, orgs: Set<UUID>)>(([], []))

    init(
        registry: PrometheusCollectorRegistry, tenants: TenantDatabases, relay: AuditRelay, metadata: PostgresClient,
        box: SecretBox, engine: JobEngine.InFlight, perOrg: Bool, logger: Logger
    ) {
        self.registry = registry
        self.tenants = tenants
        self.relay = relay
        self.metadata = metadata
        self.box = box
        self.engine = engine
        self.perOrg = perOrg
        self.logger = logger
    }

    func application(host: String, port: Int) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { [self] _, _ -> Response in
            await sample()
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        var configuration = ApplicationConfiguration(
            address: .hostname(host, port: port), serverName: "tessera-metrics")
        configuration.reuseAddress = true
        return Application(router: router, configuration: configuration, logger: logger)
    }

    /// Records the gauges read at scrape time.
    func sample() async {
        var total = ConnectionUsage()
        var byServer: [String: ConnectionUsage] = [:]
        var byOrg: [UUID: ConnectionUsage] = [:]
        let usage = tenants.usage
        for (org, server, use) in usage {
            total.add(use)
            if !server.isEmpty { byServer[server, default: ConnectionUsage()].add(use) }
            if perOrg { byOrg[org] = use }
        }
        let (servers, orgs) = seen.withLock { seen in
            seen.servers.formUnion(byServer.keys)
            seen.orgs.formUnion(byOrg.keys)
            return seen
        }
        for server in servers {
            for (state, value) in (byServer[server] ?? ConnectionUsage()).states {
                Gauge(label: "tessera_tenant_server_connections", dimensions: [("server", server), ("state", state)])
                    .record(value)
            }
        }
        for org in orgs {
            for (state, value) in (byOrg[org] ?? ConnectionUsage()).states {
                Gauge(label: "tessera_tenant_org_connections", dimensions: [("org", "\(org)"), ("state", state)])
                    .record(value)
            }
        }
        Gauge(label: "tessera_tenant_pools_open").record(usage.count)
        Gauge(label: "tessera_tenant_connections_limit").record(tenants.totalConnectionBound)
        for (state, value) in total.states {
            Gauge(label: "tessera_tenant_connections", dimensions: [("state", state)]).record(value)
        }
        Gauge(label: "tessera_audit_relay_lag_seconds").record(await relay.lagSeconds())
        Gauge(label: "tessera_audit_relay_waiting_orgs").record(await relay.waitingOrgs())
        Gauge(label: "tessera_job_executions_in_flight").record(engine.count)
        do {
            let (mail, audit) = try await withDeadline(.seconds(2)) { [metadata, box, logger] in
                try await metadata.withConnection { connection in
                    (
                        try await MailStore(box: box, logger: logger).backlog(on: connection),
                        try await AuditStore(logger: logger).queuedCount(on: connection)
                    )
                }
            }
            Gauge(label: "tessera_mail_outbox_backlog").record(mail)
            Gauge(label: "tessera_audit_queued_records").record(audit)
        } catch {
            logger.warning(
                "metrics: the metadata database did not answer", metadata: ["error": "\(describeDatabaseError(error))"])
        }
    }
}

extension ConnectionUsage {
    mutating func add(_ other: ConnectionUsage) {
        idle += other.idle
        inUse += other.inUse
        opening += other.opening
        waiting += other.waiting
    }

    /// Each state's count by its label value.
    var states: [(String, Int)] { [("idle", idle), ("in_use", inUse), ("opening", opening), ("waiting", waiting)] }
}
