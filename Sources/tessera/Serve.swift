import ArgumentParser
import Hummingbird
import NIOCore
import NIOPosix
import TesseraGateway

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP gateway until SIGTERM or SIGINT.",
        discussion: """
            On SIGTERM or SIGINT the gateway stops accepting connections and lets running requests finish for up to \
            http.shutdown_seconds (default 10); requests still running then are cancelled, and the process exits at \
            most 5 seconds after that bound whatever it still waits for, logging what it abandoned.

            Traces are exported over OTLP/HTTP when OTEL_TRACES_EXPORTER=otlp or OTEL_EXPORTER_OTLP_ENDPOINT is set \
            (the other OTEL_* variables as OpenTelemetry defines them); off otherwise. Metrics: metrics.host:port.
            """)

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        // Swift concurrency's jobs run on NIO's event loops (the threads of the HTTP server and of every
        // PostgreSQL connection) instead of a pool of their own: a request no longer hops between the two pools at
        // each await on the network. bench/read: 10–24 % less CPU a tenant read. Work that blocks a thread runs
        // elsewhere — CPU-heavy work on HeavyWork's threads; password hashing, name resolution, an artifact's fsync
        // and a purged org's folder removal on NIO's thread pool.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        var settings = try options.loadSettings().settings
        settings.tenants.masterKey = try await options.masterKey(settings)
        let logger = makeLogger(settings)
        logger.info(
            "starting gateway",
            metadata: [
                "address": "\(settings.http.host):\(settings.http.port)", "profile": "\(settings.profile.rawValue)",
            ])
        let traces = try GatewayTracing.bootstrap(logger: logger)
        if traces != nil { logger.info("exporting traces over OTLP (OTEL_* environment)") }
        let app = try buildApplication(settings: settings, logger: logger)
        try await runUntilShutdown(app, settings: settings, exporters: traces.map { [$0] } ?? [], logger: logger)
        logger.info("gateway stopped")
    }
}
