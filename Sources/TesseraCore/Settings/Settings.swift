/// Tessera's configuration, read once (environment > `.env` > YAML > defaults) and never changed.
public struct Settings: Sendable {
    public enum Profile: String, Sendable, CaseIterable {
        case dev, prod
    }

    public struct HTTP: Sendable {
        public var host: String
        public var port: Int
        /// Largest request body accepted; larger ones are answered 413 before routing.
        public var maxBodyBytes: Int
        /// The same for bulk imports (`POST …/rows`).
        public var maxImportBytes: Int
        /// The largest artifact (`POST …/artifacts`), streamed to the artifact store, never held in memory.
        public var maxArtifactBytes: Int
        /// Graceful shutdown's bound: requests still running then are cancelled, and the process exits
        /// within a few seconds more whatever it still waits for.
        public var shutdownSeconds: Int
        /// Proxies whose `X-Forwarded-For` names the client (none by default: the peer is the client).
        public var trustedProxies: TrustedProxies
    }

    public struct Database: Sendable {
        public var host: String
        public var port: Int
        public var name: String
        /// The gateway's login role (not a superuser; member of `tessera_app`).
        public var user: String
        public var password: Secret?
        /// The role used only by migrations and provisioning.
        public var adminUser: String
        public var adminPassword: Secret?
        public var poolSize: Int
        /// TLS to every database server: the metadata server and those `tessera server add` registers.
        public var tls: DatabaseTLS
    }

    public enum TLSMode: String, Sendable, CaseIterable {
        /// `prefer` and `require` check the certificate as `verify-full` does (a chain to a trusted root, and the
        /// host's name): stricter than libpq's modes of those names. `prefer` falls back to plaintext when the
        /// server offers no TLS; `require` and `verify-full` never do.
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    /// How database connections are encrypted, and whom their certificates must chain to.
    public struct DatabaseTLS: Sendable, Equatable {
        public var mode: TLSMode
        /// PEM certificates trusted as roots instead of the system's (`database.tls_ca_file`): a private CA.
        public var caFile: String?

        public init(mode: TLSMode, caFile: String? = nil) {
            self.mode = mode
            self.caFile = caFile
        }

        public static let disable = DatabaseTLS(mode: .disable)

        /// Refuses a host a certificate check cannot name: with `verify-full` the host must be a DNS name
        /// (TLS checks an IP literal against no name; PostgresNIO sends none for an address).
        public func check(host: String) throws {
            guard mode == .verifyFull, Self.isAddressLiteral(host) else { return }
            throw TesseraError.unprocessable(
                "database.tls is verify-full, so the server must be named by the DNS name its certificate holds, "
                    + "not the address \(host)")
        }

        static func isAddressLiteral(_ host: String) -> Bool {
            host.contains(":")
                || (host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." })
        }
    }

    public struct Tenants: Sendable {
        /// Connections to org databases, all orgs together: one budget shared by demand.
        public var maxConnections: Int
        /// Connections one org may hold (it grows to this while others are idle; under contention every
        /// waiting org gets an equal share).
        public var maxPerOrg: Int
        /// An org database connection idle this long is closed.
        public var idleSeconds: Int
        /// The longest a request waits for an org database connection before it is answered 503.
        public var deadlineMilliseconds: Int
        /// The longest one piece of work on an org database connection may take (a query, a transaction); past
        /// it the connection is dropped (the server rolls back) and the request is answered 503. Bounds what a
        /// frozen database server costs a request whose connection it holds.
        public var statementSeconds: Int
        /// Seals org database passwords; required in the prod profile (dev keeps one in the data dir).
        public var masterKey: Secret?
        /// The database every org database is cloned from, on each server (an identifier: a-z, 0-9, _).
        public var templateDatabase: String
    }

    /// Where artifact blobs are stored.
    public struct Artifacts: Sendable {
        public enum Store: String, Sendable, CaseIterable {
            /// Under `paths.artifact_root`, content-addressed per org (the default).
            case filesystem
            /// Objects of one bucket of an S3-compatible service (received blobs are staged under
            /// `paths.artifact_root` first).
            case s3
        }
        public var store: Store
        /// `http(s)://host[:port]` of the S3-compatible service (addressed path-style).
        public var s3Endpoint: String
        public var s3Bucket: String
        public var s3Region: String
        /// Prepended to every object key (`<prefix><org>/<sha256>`).
        public var s3Prefix: String
        public var s3AccessKey: String
        public var s3SecretKey: Secret?
        /// Blobs larger than this go as a multipart upload of parts this large (S3's minimum part is 5 MiB).
        public var s3PartBytes: Int
    }

    public struct Paths: Sendable {
        /// Local state: admin key file, dev master key (relative paths are taken from the working directory).
        public var dataDir: String
        /// Where each org's storage folder is made.
        public var artifactRoot: String
        public var metaMigrations: String
        public var resultsMigrations: String
    }

    public struct Auth: Sendable {
        /// Failed authentications from one address within the window before it is answered 429.
        public var maxFailures: Int
        public var failureWindowSeconds: Int
        /// How long a verified key may be served from memory (revocations still apply at once).
        public var cacheSeconds: Int
        /// Lifetime of a session token from `POST /v1/auth/login`.
        public var sessionMinutes: Int
    }

    public struct Work: Sendable {
        /// How often the background reaper returns expired work-item leases to the queue.
        public var reapSeconds: Int
        /// How often each registered task service's health path is called, the timeout of one call, and
        /// the consecutive failures that mark a service unhealthy.
        public var healthIntervalSeconds: Int
        public var healthTimeoutSeconds: Int
        public var healthFailures: Int
        /// Task services may be registered at loopback and private addresses (default: on in dev, off in prod).
        public var allowPrivateServices: Bool
        /// Task services one org may register.
        public var maxServicesPerOrg: Int
        /// Heavy operations (evaluations, ontology and bulk parsing) running at once in the process (0: one less
        /// than the cores, at least one) and per org; how many of one org's may wait, and for how long.
        public var heavyTotal: Int
        public var heavyPerOrg: Int
        public var heavyQueuedPerOrg: Int
        public var heavyWaitSeconds: Int
        /// Bulk bodies held in memory while they are parsed (ontologies, prediction sets, batches of results, CAFA
        /// evaluations; row imports and annotation sets are spooled to disk and not counted) at once in the process
        /// and per org. Waiting is bounded as for heavy work (`heavy_queued_per_org`, `heavy_wait_seconds`).
        public var bulkBodies: Int
        public var bulkBodiesPerOrg: Int
        /// Once admitted, such a body must have arrived whole within this many seconds; a slower sender is answered
        /// 408 and its slot goes to the next (a sender trickling bytes would otherwise hold it as long as it liked).
        public var bulkBodySeconds: Int
        /// How often the job engine looks for work in every org (it is woken sooner by what this process sees),
        /// the executions one org may have running at once, and the base URL task services report to (the
        /// gateway's address as the services reach it; empty: the address it listens on).
        public var engineIntervalMilliseconds: Int
        public var engineMaxRunningPerOrg: Int
        /// What an execution's lease adds to its call's timeout: how long after that a process that stopped
        /// mid-call is noticed and the attempt ended (and retried).
        public var engineLeaseGraceSeconds: Int
        public var callbackBaseURL: String
        /// The longest one pass of a background service (mail delivery, provisioning, key-use stamps, failure
        /// summaries, health checks, the job engine's org listing) may wait on a database before it is abandoned and
        /// the next pass comes: a connection that closed under a query can otherwise hold a pass for ever.
        public var backgroundPassSeconds: Int
        /// How often delivered audit-outbox rows are deleted from org databases (by the server's admin login: an org's
        /// own role can only add to its outbox).
        public var outboxTrimSeconds: Int
    }

    /// Mail: an outbox in the metadata database, delivered by the gateway.
    public struct Mail: Sendable {
        public enum Transport: String, Sendable, CaseIterable {
            /// Each message an `.eml` file under `<data dir>/mail/` (the dev default).
            case file
            case smtp
        }
        public enum SMTPTLS: String, Sendable, CaseIterable {
            case required, opportunistic, off
        }
        public var transport: Transport
        /// The From header (`Name <address>` or an address).
        public var from: String
        public var smtpHost: String
        public var smtpPort: Int
        public var smtpTLS: SMTPTLS
        public var smtpUsername: String?
        public var smtpPassword: Secret?
        /// PEM certificate authorities to trust for the SMTP server (instead of the system's).
        public var smtpCAFile: String?
        /// Attempts before a message is given up (a 5xx refusal gives up at once).
        public var maxAttempts: Int
        /// The first retry's delay; each next one doubles, up to an hour.
        public var retrySeconds: Int
        /// The address people reach this gateway at, for links in mail.
        public var publicURL: String
    }

    /// Self-service accounts.
    public struct Accounts: Sendable {
        /// Anyone may sign up, verify their address and create orgs they own (default: on in dev, off in prod).
        public var selfService: Bool
        /// How many orgs one user may own through self-service.
        public var maxOrgsPerUser: Int
        /// Identity providers may be called on loopback and private addresses, over http too (default: on in
        /// dev, off in prod).
        public var oidcPrivateIssuers: Bool
    }

    /// Prometheus metrics, on a listener of their own (never the API's port, so never public by accident).
    public struct Metrics: Sendable {
        public var enabled: Bool
        public var host: String
        /// 0: a port the system chooses (tests).
        public var port: Int
        /// Org ids as a label (one series per org: off by default, for cardinality).
        public var perOrg: Bool
    }

    public var profile: Profile
    public var accounts: Accounts
    public var mail: Mail
    public var http: HTTP
    public var auth: Auth
    public var database: Database
    public var tenants: Tenants
    public var paths: Paths
    public var artifacts: Artifacts
    public var work: Work
    public var metrics: Metrics
    public var logLevel: String
    /// Benchmark-only: skip audit writes of metadata changes (bench/audit measures what they cost).
    /// Refused outside the dev profile.
    public var benchSkipAudit: Bool

    /// Every key Tessera reads, with its YAML path, environment name and default.
    public static let keys: [SettingKey] = [
        SettingKey("profile", env: "TESSERA_PROFILE", default: "dev", help: "dev or prod"),
        SettingKey("http.host", env: "TESSERA_HTTP_HOST", default: "127.0.0.1", help: "address the gateway listens on"),
        SettingKey("http.port", env: "TESSERA_HTTP_PORT", default: "8080", help: "port the gateway listens on"),
        SettingKey(
            "http.max_body_bytes", env: "TESSERA_HTTP_MAX_BODY_BYTES", default: "1048576",
            help: "largest request body, in bytes"),
        SettingKey(
            "auth.max_failures", env: "TESSERA_AUTH_MAX_FAILURES", default: "10",
            help: "failed authentications per address before 429"),
        SettingKey(
            "auth.failure_window_seconds", env: "TESSERA_AUTH_FAILURE_WINDOW_SECONDS", default: "60",
            help: "window for counting failures"),
        SettingKey(
            "auth.cache_seconds", env: "TESSERA_AUTH_CACHE_SECONDS", default: "5",
            help: "how long a verified key is cached"),
        SettingKey(
            "auth.session_minutes", env: "TESSERA_AUTH_SESSION_MINUTES", default: "60", help: "session token lifetime"),
        SettingKey(
            "http.max_import_bytes", env: "TESSERA_HTTP_MAX_IMPORT_BYTES", default: "67108864",
            help: "largest bulk import body, in bytes"),
        SettingKey(
            "http.max_artifact_bytes", env: "TESSERA_HTTP_MAX_ARTIFACT_BYTES", default: "4294967296",
            help: "largest artifact upload, in bytes (streamed to the artifact store)"),
        SettingKey(
            "http.shutdown_seconds", env: "TESSERA_HTTP_SHUTDOWN_SECONDS", default: "10",
            help: "graceful shutdown bound, in seconds"),
        SettingKey(
            "http.trusted_proxies", env: "TESSERA_HTTP_TRUSTED_PROXIES", default: "",
            help: "addresses or CIDR blocks whose X-Forwarded-For names the client"),
        SettingKey("database.host", env: "TESSERA_DB_HOST", default: "127.0.0.1", help: "metadata database host"),
        SettingKey("database.port", env: "TESSERA_DB_PORT", default: "54329", help: "metadata database port"),
        SettingKey("database.name", env: "TESSERA_DB_NAME", default: "tessera_meta", help: "metadata database name"),
        SettingKey("database.user", env: "TESSERA_DB_USER", default: "tessera_gateway", help: "gateway login role"),
        SettingKey(
            "database.password", env: "TESSERA_DB_PASSWORD", default: nil, secret: true, help: "gateway role password"),
        SettingKey(
            "database.admin_user", env: "TESSERA_DB_ADMIN_USER", default: "tessera_admin",
            help: "role for migrations and provisioning"),
        SettingKey(
            "database.admin_password", env: "TESSERA_DB_ADMIN_PASSWORD", default: nil, secret: true,
            help: "admin role password"),
        SettingKey(
            "database.pool_size", env: "TESSERA_DB_POOL_SIZE", default: "20", help: "connections in the metadata pool"),
        SettingKey(
            "database.tls", env: "TESSERA_DB_TLS", default: "disable",
            help: "disable, prefer, require or verify-full (a certificate chain to a trusted root and the host's name)"),
        SettingKey(
            "database.tls_ca_file", env: "TESSERA_DB_TLS_CA_FILE", default: "",
            help: "PEM file of the CA certificates database servers' certificates must chain to (else the system's)"),
        SettingKey(
            "tenants.max_connections", env: "TESSERA_TENANTS_MAX_CONNECTIONS", default: "100",
            help: "connections to org databases in all"),
        SettingKey(
            "tenants.max_per_org", env: "TESSERA_TENANTS_MAX_PER_ORG", default: "16",
            help: "connections one org may hold"),
        SettingKey(
            "tenants.idle_seconds", env: "TESSERA_TENANTS_IDLE_SECONDS", default: "60",
            help: "an idle org database connection closes after this"),
        SettingKey(
            "tenants.deadline_ms", env: "TESSERA_TENANTS_DEADLINE_MS", default: "3000",
            help: "longest wait for an org database connection (then 503)"),
        SettingKey(
            "tenants.statement_seconds", env: "TESSERA_TENANTS_STATEMENT_SECONDS", default: "60",
            help: "longest one piece of work on an org database connection may take (then dropped, 503)"),
        SettingKey(
            "tenants.master_key", env: "TESSERA_MASTER_KEY", default: nil, secret: true,
            help: "base64 of 32 bytes; seals org DB passwords"),
        SettingKey(
            "tenants.template_database", env: "TESSERA_TENANTS_TEMPLATE_DATABASE", default: "tessera_results_template",
            help: "results template database"),
        SettingKey(
            "paths.artifact_root", env: "TESSERA_ARTIFACT_ROOT", default: ".data/artifacts", help: "org storage folders"
        ),
        SettingKey("paths.data_dir", env: "TESSERA_DATA_DIR", default: ".data", help: "local state directory"),
        SettingKey(
            "paths.meta_migrations", env: "TESSERA_META_MIGRATIONS", default: "migrations-meta",
            help: "metadata migrations folder"),
        SettingKey(
            "paths.results_migrations", env: "TESSERA_RESULTS_MIGRATIONS", default: "migrations-results",
            help: "results migrations folder"),
        SettingKey(
            "work.reap_seconds", env: "TESSERA_WORK_REAP_SECONDS", default: "30",
            help: "interval of the expired-lease reaper"),
        SettingKey(
            "work.health_interval_seconds", env: "TESSERA_WORK_HEALTH_INTERVAL_SECONDS", default: "30",
            help: "interval of task service health checks"),
        SettingKey(
            "work.health_timeout_seconds", env: "TESSERA_WORK_HEALTH_TIMEOUT_SECONDS", default: "5",
            help: "timeout of one health check"),
        SettingKey(
            "work.health_failures", env: "TESSERA_WORK_HEALTH_FAILURES", default: "3",
            help: "consecutive failed checks before a service is unhealthy"),
        SettingKey(
            "work.allow_private_services", env: "TESSERA_WORK_ALLOW_PRIVATE_SERVICES", default: "",
            help:
                "true or false: task services at loopback, private or link-local addresses (empty: on in dev, off in prod)"
        ),
        SettingKey(
            "work.max_services_per_org", env: "TESSERA_WORK_MAX_SERVICES_PER_ORG", default: "100",
            help: "task services one org may register"),
        SettingKey(
            "work.heavy_total", env: "TESSERA_WORK_HEAVY_TOTAL", default: "0",
            help: "heavy operations (evaluations, ontology and bulk parsing) at once in the process (0: cores - 1)"),
        SettingKey(
            "work.heavy_per_org", env: "TESSERA_WORK_HEAVY_PER_ORG", default: "1",
            help: "heavy operations one org runs at once"),
        SettingKey(
            "work.heavy_queued_per_org", env: "TESSERA_WORK_HEAVY_QUEUED_PER_ORG", default: "4",
            help: "heavy operations of one org that may wait for a slot (429 past it)"),
        SettingKey(
            "work.heavy_wait_seconds", env: "TESSERA_WORK_HEAVY_WAIT_SECONDS", default: "30",
            help: "longest wait for a heavy-operation slot (503 past it)"),
        SettingKey(
            "work.bulk_bodies", env: "TESSERA_WORK_BULK_BODIES", default: "2",
            help: "bulk bodies parsed in memory at once in the process (ontologies, prediction sets, results, CAFA)"),
        SettingKey(
            "work.bulk_bodies_per_org", env: "TESSERA_WORK_BULK_BODIES_PER_ORG", default: "1",
            help: "bulk bodies one org sends at once (rows and annotation sets are spooled to disk, not counted)"),
        SettingKey(
            "work.bulk_body_seconds", env: "TESSERA_WORK_BULK_BODY_SECONDS", default: "60",
            help: "seconds an admitted bulk body has to arrive whole (then 408, and its slot is freed)"),
        SettingKey(
            "work.engine_interval_ms", env: "TESSERA_WORK_ENGINE_INTERVAL_MS", default: "1000",
            help: "how often the job engine looks for work in every org"),
        SettingKey(
            "work.engine_max_running_per_org", env: "TESSERA_WORK_ENGINE_MAX_RUNNING_PER_ORG", default: "8",
            help: "task executions one org may have running at once"),
        SettingKey(
            "work.engine_lease_grace_seconds", env: "TESSERA_WORK_ENGINE_LEASE_GRACE_SECONDS", default: "30",
            help: "seconds an execution's lease outlives its call's timeout (a stopped gateway's attempt ends then)"),
        SettingKey(
            "work.background_pass_seconds", env: "TESSERA_WORK_BACKGROUND_PASS_SECONDS", default: "60",
            help: "the longest one pass of a background service may wait on a database before the next pass comes"),
        SettingKey(
            "work.outbox_trim_seconds", env: "TESSERA_WORK_OUTBOX_TRIM_SECONDS", default: "300",
            help: "how often audit-outbox rows already relayed are deleted from org databases"),
        SettingKey(
            "work.callback_base_url", env: "TESSERA_WORK_CALLBACK_BASE_URL", default: "",
            help: "the gateway's URL as task services reach it, for their callbacks (empty: the address it listens on)"),
        SettingKey(
            "bench.skip_audit", env: "TESSERA_BENCH_SKIP_AUDIT", default: "false",
            help: "benchmark only: skip audit writes (dev profile only)"),
        SettingKey(
            "accounts.self_service", env: "TESSERA_ACCOUNTS_SELF_SERVICE", default: "",
            help: "true or false: sign-up and orgs created by their owners (empty: on in dev, off in prod)"),
        SettingKey(
            "accounts.max_orgs_per_user", env: "TESSERA_ACCOUNTS_MAX_ORGS_PER_USER", default: "3",
            help: "orgs one user may own through self-service"),
        SettingKey(
            "accounts.oidc_private_issuers", env: "TESSERA_ACCOUNTS_OIDC_PRIVATE_ISSUERS", default: "",
            help:
                "true or false: identity providers on loopback or private addresses, over http too (empty: on in dev, off in prod)"
        ),
        SettingKey(
            "artifacts.store", env: "TESSERA_ARTIFACTS_STORE", default: "filesystem",
            help: "filesystem (under paths.artifact_root) or s3"),
        SettingKey(
            "artifacts.s3_endpoint", env: "TESSERA_ARTIFACTS_S3_ENDPOINT", default: nil,
            help: "http(s)://host[:port] of the S3-compatible service"),
        SettingKey("artifacts.s3_bucket", env: "TESSERA_ARTIFACTS_S3_BUCKET", default: nil, help: "the bucket"),
        SettingKey("artifacts.s3_region", env: "TESSERA_ARTIFACTS_S3_REGION", default: "us-east-1", help: "its region"),
        SettingKey(
            "artifacts.s3_prefix", env: "TESSERA_ARTIFACTS_S3_PREFIX", default: nil,
            help: "prepended to every object key"),
        SettingKey(
            "artifacts.s3_access_key", env: "TESSERA_ARTIFACTS_S3_ACCESS_KEY", default: nil, help: "access key id"),
        SettingKey(
            "artifacts.s3_secret_key", env: "TESSERA_ARTIFACTS_S3_SECRET_KEY", default: nil, secret: true,
            help: "secret access key"),
        SettingKey(
            "artifacts.s3_part_bytes", env: "TESSERA_ARTIFACTS_S3_PART_BYTES", default: "16777216",
            help: "multipart upload part size, in bytes (at least 5 MiB)"),
        SettingKey(
            "mail.transport", env: "TESSERA_MAIL_TRANSPORT", default: "file",
            help: "file (each message an .eml under <data dir>/mail/) or smtp"),
        SettingKey(
            "mail.from", env: "TESSERA_MAIL_FROM", default: "Tessera <tessera@localhost>", help: "From header of mail"),
        SettingKey("mail.smtp.host", env: "TESSERA_MAIL_SMTP_HOST", default: "127.0.0.1", help: "SMTP server"),
        SettingKey("mail.smtp.port", env: "TESSERA_MAIL_SMTP_PORT", default: "587", help: "SMTP port"),
        SettingKey(
            "mail.smtp.tls", env: "TESSERA_MAIL_SMTP_TLS", default: "required",
            help: "STARTTLS: required, opportunistic or off (off refuses a login)"),
        SettingKey("mail.smtp.username", env: "TESSERA_MAIL_SMTP_USERNAME", default: nil, help: "SMTP login"),
        SettingKey(
            "mail.smtp.password", env: "TESSERA_MAIL_SMTP_PASSWORD", default: nil, secret: true,
            help: "SMTP password (sent only over TLS)"),
        SettingKey(
            "mail.smtp.ca_file", env: "TESSERA_MAIL_SMTP_CA_FILE", default: nil,
            help: "PEM CAs to trust for the SMTP server"),
        SettingKey(
            "mail.max_attempts", env: "TESSERA_MAIL_MAX_ATTEMPTS", default: "8",
            help: "delivery attempts before a message fails"),
        SettingKey(
            "mail.retry_seconds", env: "TESSERA_MAIL_RETRY_SECONDS", default: "5",
            help: "first retry delay (doubling, at most an hour)"),
        SettingKey(
            "mail.public_url", env: "TESSERA_MAIL_PUBLIC_URL", default: "http://127.0.0.1:8080",
            help: "the gateway's public address (links in mail, the OIDC redirect URI)"),
        SettingKey(
            "metrics.enabled", env: "TESSERA_METRICS_ENABLED", default: "true",
            help: "serve Prometheus metrics on their own listener"),
        SettingKey(
            "metrics.host", env: "TESSERA_METRICS_HOST", default: "127.0.0.1",
            help: "address the metrics listener binds (keep it private)"),
        SettingKey("metrics.port", env: "TESSERA_METRICS_PORT", default: "9464", help: "port of the metrics listener"),
        SettingKey(
            "metrics.per_org", env: "TESSERA_METRICS_PER_ORG", default: "false",
            help: "label metrics with org ids (one series per org)"),
        SettingKey(
            "log.level", env: "TESSERA_LOG_LEVEL", default: "info",
            help: "trace, debug, info, notice, warning, error, critical"),
    ]
}

/// One configuration key: where it lives in YAML, its environment variable, its default.
public struct SettingKey: Sendable {
    public let path: String
    public let env: String
    public let defaultValue: String?
    public let isSecret: Bool
    public let help: String

    init(_ path: String, env: String, default defaultValue: String?, secret: Bool = false, help: String) {
        self.path = path
        self.env = env
        self.defaultValue = defaultValue
        self.isSecret = secret
        self.help = help
    }
}
