import ArgumentParser
import Hummingbird
import TesseraGateway

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP gateway until SIGTERM or SIGINT (graceful shutdown).")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        var settings = try options.loadSettings().settings
        settings.tenants.masterKey = try options.masterKey(settings)
        let logger = makeLogger(settings)
        logger.info("starting gateway", metadata: ["address": "\(settings.http.host):\(settings.http.port)", "profile": "\(settings.profile.rawValue)"])
        let app = try buildApplication(settings: settings, logger: logger)
        try await app.runService()
        logger.info("gateway stopped")
    }
}
