import Hummingbird
import Logging
import OpenAPIHummingbird
import PostgresNIO
import TesseraCore
import TesseraPostgres

public typealias AppRequestContext = BasicRequestContext

/// Builds the gateway: the metadata pool, the contract's routes and the request chain.
/// Used alike by `tessera serve` and by the tests.
public func buildApplication(settings: Settings, logger: Logger) throws -> some ApplicationProtocol {
    let client = PostgresClient(
        configuration: settings.database.clientConfiguration(as: .gateway),
        backgroundLogger: logger)
    let migrator = try Migrator(files: Migrator.loadFiles(from: settings.paths.metaMigrations), logger: logger)
    let router = try buildRouter(
        settings: settings,
        readiness: Readiness(client: client, migrator: migrator, timeout: .seconds(2)),
        logger: logger)
    return Application(
        router: router,
        configuration: .init(address: .hostname(settings.http.host, port: settings.http.port), serverName: "tessera"),
        services: [client],
        logger: logger)
}

/// The whole API surface and, in order, the chain every request goes through.
func buildRouter(settings: Settings, readiness: Readiness, logger: Logger) throws -> Router<AppRequestContext> {
    let document = try OpenAPIDocument.load()
    let router = Router(context: AppRequestContext.self)
    addRequestChain(to: router, settings: settings, routes: document.routes)
    try APIHandler(readiness: readiness, document: document, logger: logger).registerHandlers(on: router)
    return router
}

/// The middleware every request passes, outermost first.
func addRequestChain(to router: Router<AppRequestContext>, settings: Settings, routes: RouteTable) {
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: ProblemMiddleware(routes: routes))
    router.add(middleware: BodyLimitMiddleware(limit: settings.http.maxBodyBytes))
    // authenticate → resolve tenant → authorize → handle → audit: added by the identity and audit issues.
}
