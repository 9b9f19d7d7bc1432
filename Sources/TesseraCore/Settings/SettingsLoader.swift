import Yams

/// Where a setting's value came from, in order of precedence.
public enum SettingSource: String, Sendable {
    case environment
    case dotEnv = ".env"
    case yaml
    case defaultValue = "default"
}

public enum SettingsError: Error, Equatable, CustomStringConvertible {
    case invalidValue(key: String, source: SettingSource, expected: String)
    case invalidYAML(String)
    case invalidDotEnv(line: Int)

    public var description: String {
        switch self {
        case .invalidValue(let key, let source, let expected):
            "setting \(key) (from \(source.rawValue)) must be \(expected)"
        case .invalidYAML(let reason):
            "config YAML is not valid: \(reason)"
        case .invalidDotEnv(let line):
            ".env line \(line) is not KEY=VALUE"
        }
    }
}

/// The loaded settings with, per key, where its value came from, and warnings about the sources.
public struct LoadedSettings: Sendable {
    public let settings: Settings
    public let sources: [String: SettingSource]
    public let warnings: [String]

    /// Every key with its value (secrets as `***`) and source, one per line, for `tessera config`.
    public func redactedListing() -> [String] {
        Settings.keys.map { key in
            let source = sources[key.path] ?? .defaultValue
            let shown = key.isSecret ? (source == .defaultValue ? "(unset)" : "***") : (value(of: key) ?? "(unset)")
            return "\(key.path) = \(shown)  [\(source.rawValue), \(key.env)]"
        }
    }

    private func value(of key: SettingKey) -> String? {
        let s = settings
        switch key.path {
        case "profile": return s.profile.rawValue
        case "http.host": return s.http.host
        case "http.port": return String(s.http.port)
        case "http.max_body_bytes": return String(s.http.maxBodyBytes)
        case "http.max_import_bytes": return String(s.http.maxImportBytes)
        case "http.max_artifact_bytes": return String(s.http.maxArtifactBytes)
        case "http.shutdown_seconds": return String(s.http.shutdownSeconds)
        case "auth.max_failures": return String(s.auth.maxFailures)
        case "auth.failure_window_seconds": return String(s.auth.failureWindowSeconds)
        case "auth.cache_seconds": return String(s.auth.cacheSeconds)
        case "auth.session_minutes": return String(s.auth.sessionMinutes)
        case "database.host": return s.database.host
        case "database.port": return String(s.database.port)
        case "database.name": return s.database.name
        case "database.user": return s.database.user
        case "database.admin_user": return s.database.adminUser
        case "database.pool_size": return String(s.database.poolSize)
        case "database.tls": return s.database.tls.mode.rawValue
        case "database.tls_ca_file": return s.database.tls.caFile ?? ""
        case "tenants.max_connections": return String(s.tenants.maxConnections)
        case "tenants.max_per_org": return String(s.tenants.maxPerOrg)
        case "tenants.idle_seconds": return String(s.tenants.idleSeconds)
        case "tenants.deadline_ms": return String(s.tenants.deadlineMilliseconds)
        case "tenants.statement_seconds": return String(s.tenants.statementSeconds)
        case "tenants.template_database": return s.tenants.templateDatabase
        case "paths.artifact_root": return s.paths.artifactRoot
        case "paths.data_dir": return s.paths.dataDir
        case "paths.meta_migrations": return s.paths.metaMigrations
        case "paths.results_migrations": return s.paths.resultsMigrations
        case "work.reap_seconds": return String(s.work.reapSeconds)
        case "work.health_interval_seconds": return String(s.work.healthIntervalSeconds)
        case "work.health_timeout_seconds": return String(s.work.healthTimeoutSeconds)
        case "work.health_failures": return String(s.work.healthFailures)
        case "work.allow_private_services": return String(s.work.allowPrivateServices)
        case "work.max_services_per_org": return String(s.work.maxServicesPerOrg)
        case "work.heavy_total": return String(s.work.heavyTotal)
        case "work.heavy_per_org": return String(s.work.heavyPerOrg)
        case "work.heavy_queued_per_org": return String(s.work.heavyQueuedPerOrg)
        case "work.heavy_wait_seconds": return String(s.work.heavyWaitSeconds)
        case "work.bulk_bodies": return String(s.work.bulkBodies)
        case "work.bulk_bodies_per_org": return String(s.work.bulkBodiesPerOrg)
        case "work.bulk_body_seconds": return String(s.work.bulkBodySeconds)
        case "work.engine_interval_ms": return String(s.work.engineIntervalMilliseconds)
        case "work.engine_max_running_per_org": return String(s.work.engineMaxRunningPerOrg)
        case "work.engine_lease_grace_seconds": return String(s.work.engineLeaseGraceSeconds)
        case "work.background_pass_seconds": return String(s.work.backgroundPassSeconds)
        case "work.outbox_trim_seconds": return String(s.work.outboxTrimSeconds)
        case "work.callback_base_url": return s.work.callbackBaseURL
        case "artifacts.store": return s.artifacts.store.rawValue
        case "artifacts.s3_endpoint": return s.artifacts.s3Endpoint
        case "artifacts.s3_bucket": return s.artifacts.s3Bucket
        case "artifacts.s3_region": return s.artifacts.s3Region
        case "artifacts.s3_prefix": return s.artifacts.s3Prefix
        case "artifacts.s3_access_key": return s.artifacts.s3AccessKey
        case "artifacts.s3_part_bytes": return String(s.artifacts.s3PartBytes)
        case "metrics.enabled": return String(s.metrics.enabled)
        case "metrics.host": return s.metrics.host
        case "metrics.port": return String(s.metrics.port)
        case "metrics.per_org": return String(s.metrics.perOrg)
        case "log.level": return s.logLevel
        case "bench.skip_audit": return String(s.benchSkipAudit)
        default: return nil
        }
    }
}

/// Merges the four sources of configuration into one `Settings`. Pure: the caller reads files and the environment.
public enum SettingsLoader {
    public static func load(environment: [String: String], dotEnv: String?, yaml: String?) throws -> LoadedSettings {
        var warnings: [String] = []
        let dotEnvValues = try dotEnv.map(parseDotEnv) ?? [:]
        let yamlValues = try yaml.map { try flattenYAML($0) } ?? [:]
        let known = Set(Settings.keys.map(\.path))
        for path in yamlValues.keys.sorted() where !known.contains(path) {
            warnings.append("unknown key '\(path)' in config YAML is ignored")
        }
        var values: [String: (String, SettingSource)] = [:]
        for key in Settings.keys {
            if let v = environment[key.env] {
                values[key.path] = (v, .environment)
            } else if let v = dotEnvValues[key.env] {
                values[key.path] = (v, .dotEnv)
            } else if let v = yamlValues[key.path] {
                values[key.path] = (v, .yaml)
            } else if let v = key.defaultValue {
                values[key.path] = (v, .defaultValue)
            }
        }
        let reader = Reader(values: values)
        let profile: Settings.Profile = try reader.choice("profile")
        let settings = Settings(
            profile: profile,
            accounts: .init(
                selfService: try reader.choice("accounts.self_service", among: ["", "true", "false"]).isEmpty
                    ? profile == .dev : reader.choice("accounts.self_service", among: ["true", "false"]) == "true",
                maxOrgsPerUser: try reader.int("accounts.max_orgs_per_user", in: 0...10_000),
                oidcPrivateIssuers: try reader.choice("accounts.oidc_private_issuers", among: ["", "true", "false"])
                    .isEmpty
                    ? profile == .dev
                    : reader.choice("accounts.oidc_private_issuers", among: ["true", "false"]) == "true"
            ),
            mail: .init(
                transport: try reader.choice("mail.transport"),
                from: try reader.string("mail.from"),
                smtpHost: try reader.string("mail.smtp.host"),
                smtpPort: try reader.int("mail.smtp.port", in: 1...65535),
                smtpTLS: try reader.choice("mail.smtp.tls"),
                smtpUsername: reader.optional("mail.smtp.username"),
                smtpPassword: reader.secret("mail.smtp.password"),
                smtpCAFile: reader.optional("mail.smtp.ca_file"),
                maxAttempts: try reader.int("mail.max_attempts", in: 1...100),
                retrySeconds: try reader.int("mail.retry_seconds", in: 1...3600),
                publicURL: try reader.string("mail.public_url")
            ),
            http: .init(
                host: try reader.string("http.host"),
                port: try reader.int("http.port", in: 0...65535),
                maxBodyBytes: try reader.int("http.max_body_bytes", in: 1...Int(Int32.max)),
                maxImportBytes: try reader.int("http.max_import_bytes", in: 1...Int(Int32.max)),
                maxArtifactBytes: try reader.int("http.max_artifact_bytes", in: 1...(1 << 40)),
                shutdownSeconds: try reader.int("http.shutdown_seconds", in: 1...3600),
                trustedProxies: try reader.proxies("http.trusted_proxies")
            ),
            auth: .init(
                maxFailures: try reader.int("auth.max_failures", in: 1...1_000_000),
                failureWindowSeconds: try reader.int("auth.failure_window_seconds", in: 1...86_400),
                cacheSeconds: try reader.int("auth.cache_seconds", in: 0...300),
                sessionMinutes: try reader.int("auth.session_minutes", in: 1...10_080)
            ),
            database: .init(
                host: try reader.string("database.host"),
                port: try reader.int("database.port", in: 1...65535),
                name: try reader.string("database.name"),
                user: try reader.string("database.user"),
                password: reader.secret("database.password"),
                adminUser: try reader.string("database.admin_user"),
                adminPassword: reader.secret("database.admin_password"),
                poolSize: try reader.int("database.pool_size", in: 1...1000),
                tls: .init(mode: try reader.choice("database.tls"), caFile: reader.optional("database.tls_ca_file"))
            ),
            tenants: .init(
                maxConnections: try reader.int("tenants.max_connections", in: 1...100_000),
                maxPerOrg: try reader.int("tenants.max_per_org", in: 1...100_000),
                idleSeconds: try reader.int("tenants.idle_seconds", in: 1...86_400),
                deadlineMilliseconds: try reader.int("tenants.deadline_ms", in: 10...600_000),
                statementSeconds: try reader.int("tenants.statement_seconds", in: 1...86_400),
                masterKey: reader.secret("tenants.master_key"),
                templateDatabase: try reader.identifier("tenants.template_database")
            ),
            paths: .init(
                dataDir: try reader.string("paths.data_dir"),
                artifactRoot: try reader.string("paths.artifact_root"),
                metaMigrations: try reader.string("paths.meta_migrations"),
                resultsMigrations: try reader.string("paths.results_migrations")
            ),
            artifacts: .init(
                store: try reader.choice("artifacts.store"),
                s3Endpoint: reader.optional("artifacts.s3_endpoint") ?? "",
                s3Bucket: reader.optional("artifacts.s3_bucket") ?? "",
                s3Region: try reader.string("artifacts.s3_region"),
                s3Prefix: reader.optional("artifacts.s3_prefix") ?? "",
                s3AccessKey: reader.optional("artifacts.s3_access_key") ?? "",
                s3SecretKey: reader.secret("artifacts.s3_secret_key"),
                s3PartBytes: try reader.int("artifacts.s3_part_bytes", in: (5 << 20)...(5 << 30))
            ),
            work: .init(
                reapSeconds: try reader.int("work.reap_seconds", in: 1...86_400),
                healthIntervalSeconds: try reader.int("work.health_interval_seconds", in: 1...86_400),
                healthTimeoutSeconds: try reader.int("work.health_timeout_seconds", in: 1...600),
                healthFailures: try reader.int("work.health_failures", in: 1...1000),
                allowPrivateServices: try reader.choice("work.allow_private_services", among: ["", "true", "false"])
                    .isEmpty
                    ? profile == .dev
                    : reader.choice("work.allow_private_services", among: ["true", "false"]) == "true",
                maxServicesPerOrg: try reader.int("work.max_services_per_org", in: 1...100_000),
                heavyTotal: try reader.int("work.heavy_total", in: 0...1024),
                heavyPerOrg: try reader.int("work.heavy_per_org", in: 1...1024),
                heavyQueuedPerOrg: try reader.int("work.heavy_queued_per_org", in: 0...10_000),
                heavyWaitSeconds: try reader.int("work.heavy_wait_seconds", in: 1...3600),
                bulkBodies: try reader.int("work.bulk_bodies", in: 1...1024),
                bulkBodiesPerOrg: try reader.int("work.bulk_bodies_per_org", in: 1...1024),
                bulkBodySeconds: try reader.int("work.bulk_body_seconds", in: 1...3600),
                engineIntervalMilliseconds: try reader.int("work.engine_interval_ms", in: 50...600_000),
                engineMaxRunningPerOrg: try reader.int("work.engine_max_running_per_org", in: 1...10_000),
                engineLeaseGraceSeconds: try reader.int("work.engine_lease_grace_seconds", in: 1...3600),
                callbackBaseURL: reader.optional("work.callback_base_url") ?? "",
                backgroundPassSeconds: try reader.int("work.background_pass_seconds", in: 1...3600),
                outboxTrimSeconds: try reader.int("work.outbox_trim_seconds", in: 1...86_400)
            ),
            metrics: .init(
                enabled: try reader.choice("metrics.enabled", among: ["true", "false"]) == "true",
                host: try reader.string("metrics.host"),
                port: try reader.int("metrics.port", in: 0...65_535),
                perOrg: try reader.choice("metrics.per_org", among: ["true", "false"]) == "true"),
            logLevel: try reader.choice(
                "log.level", among: ["trace", "debug", "info", "notice", "warning", "error", "critical"]),
            benchSkipAudit: try reader.choice("bench.skip_audit", among: ["true", "false"]) == "true"
        )
        if settings.database.tls.mode == .verifyFull, Settings.DatabaseTLS.isAddressLiteral(settings.database.host) {
            throw SettingsError.invalidValue(
                key: "database.host", source: values["database.host"]?.1 ?? .defaultValue,
                expected: "a DNS name its certificate holds when database.tls is verify-full, not an address")
        }
        if settings.benchSkipAudit && settings.profile != .dev {
            throw SettingsError.invalidValue(
                key: "bench.skip_audit", source: values["bench.skip_audit"]?.1 ?? .defaultValue,
                expected: "false outside the dev profile")
        }
        return LoadedSettings(settings: settings, sources: values.mapValues(\.1), warnings: warnings)
    }

    /// Parses `KEY=VALUE` lines (optional `export `, `#` comments, single or double quotes).
    public static func parseDotEnv(_ text: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: " \t") }
            guard let eq = line.firstIndex(of: "="), eq != line.startIndex else {
                throw SettingsError.invalidDotEnv(line: index + 1)
            }
            let key = line[..<eq].trimmingCharacters(in: " \t")
            var value = line[line.index(after: eq)...].trimmingCharacters(in: " \t")
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            } else if let hash = value.range(of: " #") {
                value = value[..<hash.lowerBound].trimmingCharacters(in: " \t")
            }
            result[key] = value
        }
        return result
    }

    /// Flattens a YAML mapping into dotted paths (`database.port`), scalars as their text.
    public static func flattenYAML(_ text: String) throws -> [String: String] {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw SettingsError.invalidYAML("\(error)")
        }
        guard let node else { return [:] }
        guard case .mapping = node else { throw SettingsError.invalidYAML("the top level must be a mapping") }
        var result: [String: String] = [:]
        func walk(_ node: Node, _ prefix: String) {
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    let name = key.string ?? "\(key)"
                    walk(value, prefix.isEmpty ? name : "\(prefix).\(name)")
                }
            case .scalar(let scalar):
                result[prefix] = scalar.string
            case .sequence:
                result[prefix] = "\(node)"
            }
        }
        walk(node, "")
        return result
    }

    private struct Reader {
        let values: [String: (String, SettingSource)]

        func raw(_ path: String) -> (String, SettingSource)? { values[path] }

        func string(_ path: String) throws -> String {
            guard let (v, _) = raw(path), !v.isEmpty else {
                throw SettingsError.invalidValue(
                    key: path, source: raw(path)?.1 ?? .defaultValue, expected: "a non-empty string")
            }
            return v
        }

        /// A PostgreSQL identifier that is spliced into DDL: only a-z, 0-9 and _, at most 63.
        func identifier(_ path: String) throws -> String {
            let v = try string(path)
            let ok =
                v.utf8.count <= 63 && v.utf8.first.map { $0 >= 97 && $0 <= 122 || $0 == 95 } == true
                && v.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
            guard ok else {
                throw SettingsError.invalidValue(
                    key: path, source: raw(path)?.1 ?? .defaultValue, expected: "an identifier of a-z, 0-9 and _")
            }
            return v
        }

        func proxies(_ path: String) throws -> TrustedProxies {
            let (v, source) = raw(path) ?? ("", .defaultValue)
            guard let proxies = TrustedProxies(v) else {
                throw SettingsError.invalidValue(
                    key: path, source: source, expected: "IP addresses or CIDR blocks, comma-separated")
            }
            return proxies
        }

        func optional(_ path: String) -> String? {
            guard let (v, _) = raw(path), !v.isEmpty else { return nil }
            return v
        }

        func secret(_ path: String) -> Secret? {
            guard let (v, _) = raw(path), !v.isEmpty else { return nil }
            return Secret(v)
        }

        func int(_ path: String, in range: ClosedRange<Int>) throws -> Int {
            guard let (v, source) = raw(path) else {
                throw SettingsError.invalidValue(key: path, source: .defaultValue, expected: "an integer")
            }
            guard let n = Int(v), range.contains(n) else {
                throw SettingsError.invalidValue(
                    key: path, source: source, expected: "an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return n
        }

        func choice<T: RawRepresentable & CaseIterable>(_ path: String) throws -> T where T.RawValue == String {
            let v = try choice(path, among: T.allCases.map(\.rawValue))
            return T(rawValue: v)!
        }

        func choice(_ path: String, among allowed: [String]) throws -> String {
            let (v, source) = raw(path) ?? ("", .defaultValue)
            guard allowed.contains(v) else {
                throw SettingsError.invalidValue(
                    key: path, source: source, expected: "one of \(allowed.joined(separator: ", "))")
            }
            return v
        }
    }
}

extension StringProtocol {
    /// Drops leading and trailing characters made only of the given scalars ("\r\n" is one Character).
    func trimmingCharacters(in set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        func strip(_ c: Character) -> Bool { c.unicodeScalars.allSatisfy(scalars.contains) }
        var s = Substring(self)
        while let f = s.first, strip(f) { s.removeFirst() }
        while let l = s.last, strip(l) { s.removeLast() }
        return String(s)
    }
}
