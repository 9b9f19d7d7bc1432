import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TesseraCore

/// Runs the gateway until SIGTERM or SIGINT, then shuts it down within `http.shutdown_seconds`: requests
/// and services still running at the bound are cancelled, and should anything ignore that, the process
/// exits five seconds later, saying so.
public func runUntilShutdown(
    _ app: some ApplicationProtocol, settings: Settings, exporters: [any Service] = [], logger: Logger
) async throws {
    let bound = Duration.seconds(settings.http.shutdownSeconds)
    var configuration = ServiceGroupConfiguration(
        // Services stop in reverse order: exporters (the trace exporter) after the gateway, with its last spans.
        services: exporters + [app, ShutdownWatchdog(bound: bound + .seconds(5), logger: logger)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger)
    configuration.maximumGracefulShutdownDuration = bound
    try await ServiceGroup(configuration: configuration).run()
}

/// Once shutdown begins, ends the process after `bound` if it has not ended by then.
struct ShutdownWatchdog: Service {
    let bound: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let started = ContinuousClock.now
        let logger = logger
        let bound = bound
        // A thread of its own: it must fire even if every task of the process is stuck.
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: Double(bound.components.seconds))
            logger.critical(
                "shutdown did not finish within its bound; exiting with the remaining work abandoned",
                metadata: ["waited": "\(ContinuousClock.now - started)"])
            exit(1)
        }
    }
}
