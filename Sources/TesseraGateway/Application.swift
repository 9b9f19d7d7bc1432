import Foundation
import Hummingbird
import Logging
import OpenAPIHummingbird
import OpenAPIRuntime
import PostgresNIO
import ServiceLifecycle
import TesseraCore
import TesseraMail
import TesseraPostgres
import TesseraProvisioning

/// Builds the gateway: the metadata pool, background services, the contract's routes and the request
/// chain. Used alike by `tessera serve` and by the tests.
public func buildApplication(settings: Settings, logger: Logger) throws -> some ApplicationProtocol {
    guard let masterKey = settings.tenants.masterKey else {
        throw SettingsError.invalidValue(
            key: "tenants.master_key", source: .defaultValue, expected: "set (TESSERA_MASTER_KEY)")
    }
    let box = try SecretBox(masterKeyBase64: masterKey.value)
    let client = PostgresClient(
        configuration: settings.database.clientConfiguration(as: .gateway),
        backgroundLogger: logger)
    let tenants = TenantDatabases(metadata: client, box: box, settings: settings, logger: logger)
    let deadline = tenants.deadline
    let relay = AuditRelay(metadata: client, tenants: tenants, logger: logger)
    let passDeadline = Duration.seconds(settings.work.backgroundPassSeconds)
    let provisioning = ProvisioningService(
        provisioner: Provisioner(metadata: client, box: box, settings: settings, logger: logger), metadata: client,
        passDeadline: passDeadline, logger: logger)
    let cache = CredentialCache(ttl: .seconds(settings.auth.cacheSeconds))
    let lastUsed = LastUsedRecorder(client: client, interval: .seconds(5), passDeadline: passDeadline, logger: logger)
    let failureHook = AuthFailureHook(
        client: client, window: .seconds(settings.auth.failureWindowSeconds), deadline: deadline, logger: logger)
    let migrator = try Migrator(files: Migrator.loadFiles(from: settings.paths.metaMigrations), logger: logger)
    let authenticator = Authenticator(
        client: client, cache: cache,
        limiter: FailureLimiter(
            threshold: settings.auth.maxFailures, window: .seconds(settings.auth.failureWindowSeconds)),
        lastUsed: lastUsed, failures: failureHook, deadline: deadline,
        logger: logger)
    let waker = EngineWaker()
    let catalog = EngineCatalog(metadata: client)
    let policy = OutboundPolicy(allowPrivate: settings.work.allowPrivateServices)
    let callbackBase = CallbackBase(settings.work.callbackBaseURL)
    let router = try buildRouter(
        settings: settings,
        client: client,
        tenants: tenants,
        relay: relay,
        engine: (waker, catalog),
        box: box,
        wakeProvisioner: { provisioning.wake() },
        access: try AccessServices(
            authenticator: authenticator, hasher: PasswordHasher(),
            sessionLifetime: .seconds(60 * settings.auth.sessionMinutes)),
        orgs: OrgStatusLookup(client: client, cache: cache, deadline: deadline, logger: logger),
        readiness: Readiness(client: client, migrator: migrator, timeout: .seconds(2)),
        logger: logger)
    let engine = JobEngine(
        metadata: client, tenants: tenants, catalog: catalog, policy: policy,
        interval: .milliseconds(settings.work.engineIntervalMilliseconds),
        maxRunning: settings.work.engineMaxRunningPerOrg, leaseGrace: settings.work.engineLeaseGraceSeconds,
        callbackBase: callbackBase, links: ArtifactLinks(box: box), waker: waker, passDeadline: passDeadline,
        perOrgMetrics: settings.metrics.perOrg, logger: logger)
    var metricsListener: [any Service] = []
    if settings.metrics.enabled {
        let endpoint = MetricsEndpoint(
            registry: MetricsRegistry.shared, tenants: tenants, relay: relay, metadata: client, box: box,
            engine: engine.inFlight, perOrg: settings.metrics.perOrg, logger: logger)
        metricsListener.append(endpoint.application(host: settings.metrics.host, port: settings.metrics.port))
    }
    // Order matters for shutdown: services stop in reverse, so the pool outlives its users.
    return Application(
        router: router,
        configuration: .init(address: .hostname(settings.http.host, port: settings.http.port), serverName: "tessera"),
        services: [
            client, tenants, AuthEventListener(client: client, cache: cache, logger: logger), relay,
            AuditChainer(metadata: client, logger: logger),
            OutboxTrimmer(
                metadata: client, box: box, tls: settings.database.tls,
                interval: .seconds(settings.work.outboxTrimSeconds), passDeadline: passDeadline, logger: logger),
            lastUsed,
            FailureSummaries(hook: failureHook), provisioning,
            MailDelivery(
                metadata: client, box: box, transport: try mailTransport(settings), sender: settings.mail.from,
                maxAttempts: settings.mail.maxAttempts, retryBase: .seconds(settings.mail.retrySeconds),
                pollInterval: .seconds(1), passDeadline: passDeadline, logger: logger),
            LeaseReaper(tenants: tenants, interval: .seconds(settings.work.reapSeconds), logger: logger),
            TaskHealthChecker(
                metadata: client, interval: .seconds(settings.work.healthIntervalSeconds),
                timeout: .seconds(settings.work.healthTimeoutSeconds), failures: settings.work.healthFailures,
                policy: policy, passDeadline: passDeadline, logger: logger),
            engine,
        ] + metricsListener,
        onServerRunning: { callbackBase.serverRunning($0) },
        logger: logger)
}

/// The whole API surface and, in order, the chain every request goes through.
func buildRouter(
    settings: Settings,
    client: PostgresClient,
    tenants: TenantDatabases,
    relay: AuditRelay,
    engine: (waker: EngineWaker, catalog: EngineCatalog),
    box: SecretBox,
    wakeProvisioner: @escaping @Sendable () -> Void,
    access: AccessServices,
    orgs: OrgStatusLookup,
    readiness: Readiness,
    logger: Logger
) throws -> Router<AppRequestContext> {
    let document = try OpenAPIDocument.load()
    let router = Router(context: AppRequestContext.self)
    addRequestChain(to: router, settings: settings, routes: document.routes)
    // authenticate → resolve tenant → authorize, from each route's x-tessera-permission in openapi.yaml
    let accessChain = AccessMiddleware(
        routes: document.routes, authenticator: access.authenticator, orgs: orgs,
        trustedProxies: settings.http.trustedProxies,
        bulkBodies: FairGate(
            .init(bulkBodies: settings.work), busy: "the server is busy receiving bulk uploads; retry shortly"),
        bulkBodyTime: .seconds(settings.work.bulkBodySeconds))
    router.add(middleware: accessChain)
    let skip = settings.benchSkipAudit
    let mailer = AccountMailer(box: box, publicURL: settings.mail.publicURL)
    let heavy = HeavyWork(.init(heavy: settings.work))
    let api = try APIHandler(
        system: SystemController(readiness: readiness, relay: relay, document: document, baseLogger: logger),
        orgs: OrgsController(
            client: client, box: box, mailer: mailer, tenants: tenants, wakeProvisioner: wakeProvisioner,
            accounts: settings.accounts, baseLogger: logger),
        members: MembersController(client: client, skipAuditForBenchmark: skip, mailer: mailer, baseLogger: logger),
        roles: RolesController(client: client, skipAuditForBenchmark: skip, baseLogger: logger),
        apiKeys: APIKeysController(client: client, skipAuditForBenchmark: skip, baseLogger: logger),
        auth: AuthController(
            client: client, skipAuditForBenchmark: skip, access: access, mailer: mailer, accounts: settings.accounts,
            baseLogger: logger),
        mail: MailController(client: client, box: box, baseLogger: logger),
        datasets: DatasetsController(client: client, tenants: tenants, heavy: heavy, baseLogger: logger),
        predictions: PredictionsController(client: client, tenants: tenants, baseLogger: logger),
        evaluations: EvaluationsController(tenants: tenants, heavy: heavy, baseLogger: logger),
        cafa: CAFAController(tenants: tenants, heavy: heavy, baseLogger: logger),
        artifacts: ArtifactsController(
            client: client, orgs: orgs, tenants: tenants, store: try artifactStore(settings),
            links: ArtifactLinks(box: box), maxBytes: settings.http.maxArtifactBytes, baseLogger: logger),
        jobs: JobsController(
            client: client, tenants: tenants, orgs: orgs, engine: engine.waker, catalog: engine.catalog,
            baseLogger: logger),
        molecules: MoleculesController(tenants: tenants, baseLogger: logger),
        proteins: ProteinsController(tenants: tenants, heavy: heavy, baseLogger: logger),
        tasks: TasksController(client: client, skipAuditForBenchmark: skip, work: settings.work, baseLogger: logger),
        pipelines: PipelinesController(
            client: client, tenants: tenants, skipAuditForBenchmark: skip, baseLogger: logger),
        auditLogs: AuditLogsController(client: client, box: box, baseLogger: logger),
        identityProviders: IdentityProvidersController(
            client: client, box: box,
            oidc: OIDCClient(allowPrivate: settings.accounts.oidcPrivateIssuers, logger: logger),
            publicURL: settings.mail.publicURL, access: access, baseLogger: logger)
    )
    // Compact JSON, keys sorted (Foundation's encoder otherwise writes them in hash order, different in each
    // process), slashes unescaped (the runtime's default pretty-prints: more bytes and encoder work per request);
    // dates written by hand; JSON bodies handed to Hummingbird whole (OpenAPITransport).
    try api.registerHandlers(
        on: OpenAPITransport(router: router),
        configuration: Configuration(
            dateTranscoder: InternetDateTranscoder(), jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes]))
    guard let masterKey = settings.tenants.masterKey.flatMap({ Data(base64Encoded: $0.value) }) else {
        throw SettingsError.invalidValue(
            key: "tenants.master_key", source: .defaultValue, expected: "set (TESSERA_MASTER_KEY), base64")
    }
    try Console(
        api: api, access: accessChain, routes: document.routes,
        security: ConsoleSecurity(masterKey: masterKey, secure: settings.mail.publicURL.hasPrefix("https://")),
        sessionSeconds: 60 * settings.auth.sessionMinutes
    ).register(on: router)
    return router
}

/// The middleware every request passes before access control, outermost first.
func addRequestChain(to router: Router<AppRequestContext>, settings: Settings, routes: RouteTable) {
    if settings.metrics.enabled {
        // Outermost: each request's duration, route template, method and final status, problems included.
        _ = MetricsRegistry.shared
        router.add(middleware: MetricsMiddleware())
    }
    router.add(middleware: RequestIDMiddleware())
    if TraceSwitch.isOn {
        // Outside the problem mapping: the span sees the status the client gets.
        router.add(middleware: RequestTracingMiddleware())
    }
    router.add(middleware: ProblemMiddleware(routes: routes))
    router.add(
        middleware: BodyLimitMiddleware(
            limit: settings.http.maxBodyBytes, importLimit: settings.http.maxImportBytes,
            artifactLimit: settings.http.maxArtifactBytes))
    router.add(middleware: RowsArrayMiddleware())
}

/// The mail transport the settings name: `.eml` files under `<data dir>/mail/`, or an SMTP server.
public func mailTransport(_ settings: Settings) throws -> any MailTransport {
    switch settings.mail.transport {
    case .file:
        return FileTransport(directory: "\(settings.paths.dataDir)/mail")
    case .smtp:
        let tls: SMTPConfiguration.TLSMode =
            switch settings.mail.smtpTLS {
            case .required: .required
            case .opportunistic: .opportunistic
            case .off: .off
            }
        return try SMTPTransport(
            SMTPConfiguration(
                host: settings.mail.smtpHost, port: settings.mail.smtpPort, tls: tls,
                username: settings.mail.smtpUsername, password: settings.mail.smtpPassword,
                caFile: settings.mail.smtpCAFile))
    }
}

/// The artifact store the settings name; received blobs are staged under `paths.artifact_root` for both.
func artifactStore(_ settings: Settings) throws -> any ArtifactStore {
    let staging = ArtifactStaging(root: settings.paths.artifactRoot)
    switch settings.artifacts.store {
    case .filesystem: return FileArtifactStore(staging: staging)
    case .s3: return try S3ArtifactStore(staging: staging, settings: settings.artifacts)
    }
}
