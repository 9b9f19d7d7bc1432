import Foundation
import Logging
import Metrics
import NIOPosix
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Brings an org from `provisioning` to `ready` by running its pending steps in order, journaling each in
/// `org_provisioning_steps`. Every step is idempotent, so a step a crash interrupted simply runs again.
public struct Provisioner: Sendable {
    let metadata: PostgresClient
    let box: SecretBox
    let tls: Settings.DatabaseTLS
    let artifactRoot: String
    let template: String
    let logger: Logger

    public init(metadata: PostgresClient, box: SecretBox, settings: Settings, logger: Logger) {
        self.metadata = metadata
        self.box = box
        self.tls = settings.database.tls
        self.artifactRoot = settings.paths.artifactRoot
        self.template = settings.tenants.templateDatabase
        self.logger = logger
    }

    var orgs: OrgStore { OrgStore(logger: logger) }

    /// Runs every step not yet done. A step that fails for a passing reason (`isTransientFailure`) is pending again
    /// and taken at a later pass, after a pause, up to `ProvisioningStep.automaticAttempts` tries; on any other
    /// failure, or the last try, the org is marked `failed` with the reason (an admin's retry resumes it). Either
    /// way this returns.
    public func provision(_ org: UUID) async throws {
        let session = AdminSession(provisioner: self, org: org)
        do {
            try await provision(org, session: session)
            await session.close()
        } catch {
            await session.close()
            throw error
        }
    }

    func provision(_ org: UUID, session: AdminSession) async throws {
        let steps = try await metadata.withConnection { try await orgs.steps(org, on: $0) }
        for record in steps where record.status != .done {
            if record.status == .failed { return }  // waits for a retry
            if let due = Self.retryDue(record), due > Date() { return }  // failed for a passing reason: pausing
            try await metadata.withConnection { try await orgs.beginStep(record.step, org: org, on: $0) }
            let started = ContinuousClock.now
            do {
                try await run(record.step, org: org, session: session)
            } catch {
                // Abandoned (the pass's deadline, a shutdown): the step, still `running`, is taken again next time.
                if Task.isCancelled { throw error }
                Counter(label: "tessera_provisioning_step_failures_total", dimensions: [("step", record.step.rawValue)])
                    .increment()
                let reason = describeDatabaseError(error)
                let attempt = record.attempts + 1
                let again = isTransientFailure(error) && attempt < ProvisioningStep.automaticAttempts
                var details = ["step": record.step.rawValue, "reason": reason]
                if again {
                    details["retry"] = "automatic, after attempt \(attempt) of \(ProvisioningStep.automaticAttempts)"
                    logger.warning(
                        "provisioning step failed; taken again after a pause",
                        metadata: [
                            "org": "\(org)", "step": "\(record.step.rawValue)", "error": "\(reason)",
                            "attempt": "\(attempt)",
                        ])
                } else {
                    logger.error(
                        "provisioning step failed",
                        metadata: ["org": "\(org)", "step": "\(record.step.rawValue)", "error": "\(reason)"])
                }
                try await metadata.withTransaction(logger: logger) { connection in
                    if again {
                        try await orgs.deferStep(record.step, org: org, reason: reason, on: connection)
                    } else {
                        try await orgs.failStep(record.step, org: org, reason: reason, on: connection)
                    }
                    try await audit(.orgProvisionFail, org: org, outcome: .failed, metadata: details, on: connection)
                }
                return
            }
            let elapsed = ContinuousClock.now - started
            Metrics.Timer(
                label: "tessera_provisioning_step_duration_seconds", dimensions: [("step", record.step.rawValue)]
            )
            .record(duration: elapsed)
            try await metadata.withTransaction(logger: logger) { connection in
                try await orgs.finishStep(record.step, org: org, on: connection)
                try await audit(
                    .orgProvisionStep, org: org,
                    metadata: [
                        "step": record.step.rawValue,
                        "elapsed_ms": String(
                            elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000),
                    ],
                    on: connection)
            }
            logger.info(
                "provisioning step done",
                metadata: ["org": "\(org)", "step": "\(record.step.rawValue)", "elapsed": "\(elapsed)"])
        }
    }

    /// When a step that failed for a passing reason is due again; nil unless it waits for that (a pending step
    /// with an error: `OrgStore.deferStep`; an admin's retry clears the error).
    static func retryDue(_ record: StepRecord) -> Date? {
        guard record.status == .pending, record.error != nil, let finished = record.finishedAt else { return nil }
        let delay = ProvisioningStep.retryDelay(afterAttempt: record.attempts)
        return finished.addingTimeInterval(Double(delay.components.seconds))
    }

    /// Runs one step on its own (tests use this to stop between steps).
    func run(_ step: ProvisioningStep, org: UUID) async throws {
        let session = AdminSession(provisioner: self, org: org)
        do {
            try await run(step, org: org, session: session)
            await session.close()
        } catch {
            await session.close()
            throw error
        }
    }

    func run(_ step: ProvisioningStep, org: UUID, session: AdminSession) async throws {
        switch step {
        case .place: try await place(org)
        case .createRole: try await createRole(org, session: session)
        case .createDatabase: try await createDatabase(org, session: session)
        case .lockDown: try await lockDown(org, session: session)
        case .createStorage: try createStorage(org)
        case .seedRoles: try await seedRoles(org)
        case .markReady: try await markReady(org, session: session)
        }
    }

    /// (a) Chooses the server and records the database name and a new sealed role password.
    func place(_ org: UUID) async throws {
        try await metadata.withTransaction(logger: logger) { connection in
            if try await orgs.placement(org, on: connection) != nil { return }
            let requested = try await orgs.get(org, on: connection)?.requestedServer
            guard let server = try await ServerStore(box: box, logger: logger).place(named: requested, on: connection)
            else {
                throw ProvisioningError(
                    requested.map { "no active database server named '\($0)' with room" }
                        ?? "no active database server with room; add one with `tessera server add`")
            }
            let password = APIKey.generate().plaintext  // 256 random bits, base62
            try await orgs.place(
                org, server: server, name: OrgDatabaseName(org: org), sealedPassword: try box.seal(password, for: org),
                on: connection)
        }
    }

    /// (b) Creates the org's login role, or resets its password to the sealed one (through `OrgRoles`: the admin
    /// login holds no CREATEROLE). Only the SCRAM verifier leaves the gateway, never the password.
    func createRole(_ org: UUID, session: AdminSession) async throws {
        let (placement, _) = try await session.located()
        let verifier = ScramVerifier.make(
            password: try box.open(placement.sealedPassword, for: org), iterations: ScramVerifier.orgRoleIterations)
        try await OrgRoles.ensure(placement.name, verifier: verifier, on: try await session.admin(), logger: logger)
    }

    /// (c) Clones the org's database from the template.
    func createDatabase(_ org: UUID, session: AdminSession) async throws {
        let (placement, _) = try await session.located()
        let connection = try await session.admin()
        let exists = try await connection.query(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = \(placement.name.value))", logger: logger
        ).collect()[0].decode(Bool.self)
        guard !exists else { return }
        // Closed to connections until lock_down has taken PUBLIC's privileges away: a new database gives
        // PUBLIC CONNECT and TEMPORARY, and nobody may use them in between. A session on the template (a
        // migrator's) makes the clone fail after PostgreSQL's own 5-s wait (55006): the step is then taken
        // again after a pause, as any failure that passes.
        try await connection.query(
            PostgresQuery(
                unsafeSQL: "CREATE DATABASE \(placement.name.quoted) TEMPLATE \(template) ALLOW_CONNECTIONS false"),
            logger: logger)
    }

    /// (d) Only the org's role may connect to its database (no temporary tables), and it gets the tenant
    /// privileges there; then the database opens to connections.
    func lockDown(_ org: UUID, session: AdminSession) async throws {
        let (placement, _) = try await session.located()
        let name = placement.name.quoted
        do {
            let connection = try await session.admin()
            for statement in [
                "REVOKE ALL ON DATABASE \(name) FROM PUBLIC",
                "REVOKE TEMPORARY ON DATABASE \(name) FROM \(name)",
                "GRANT CONNECT ON DATABASE \(name) TO \(name)",
                "GRANT tessera_tenant TO \(name)",
                "ALTER DATABASE \(name) ALLOW_CONNECTIONS true",
            ] {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }

    /// (e) The org's folder under the artifact root.
    func createStorage(_ org: UUID) throws {
        try FileManager.default.createDirectory(
            atPath: "\(artifactRoot)/\(org.uuidString.lowercased())", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o750])
    }

    /// (f) System roles, and the owner named at creation as a member with the owner role.
    func seedRoles(_ org: UUID) async throws {
        try await metadata.withTransaction(logger: logger) { connection in
            try await RoleStore(logger: logger).seedSystemRoles(org: org, on: connection)
            guard let owner = try await orgs.get(org, on: connection)?.ownerUserID else { return }
            let role = try await RoleStore(logger: logger).role(
                named: SystemRole.owner.rawValue, org: org, on: connection)
            guard let role else { throw ProvisioningError("the owner role was not created") }
            _ = try await MemberStore(logger: logger).add(
                org: org, user: owner, roles: [role.id], invitedBy: nil, on: connection)
        }
    }

    /// (g) Records the database's schema version and marks the org ready.
    func markReady(_ org: UUID, session: AdminSession) async throws {
        let (placement, server) = try await session.located()
        let version = try await server.withAdminConnection(database: placement.name.value, logger: logger) {
            connection in
            try await connection.query("SELECT max(name) FROM schema_migrations", logger: logger).collect().first?
                .decode(String?.self)
        }
        try await metadata.withTransaction(logger: logger) { connection in
            try await orgs.recordSchemaVersion(org, version: version, on: connection)
            // The journal's last entry goes with the status, so a ready org never shows a running step.
            try await orgs.finishStep(.markReady, org: org, on: connection)
            if try await orgs.setStatus(org, to: .ready, from: .provisioning, on: connection) {
                try await audit(.orgReady, org: org, metadata: ["schema_version": version ?? "-"], on: connection)
            }
        }
    }

    /// Drops a `deleting` org's database, role and storage, then its metadata rows. Idempotent.
    public func purge(_ org: UUID) async throws {
        let placed = try await metadata.withConnection { try await orgs.placement(org, on: $0) }
        if placed != nil {
            let (placement, server) = try await locate(org)
            try await server.withAdminConnection(database: "postgres", logger: logger) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(placement.name.quoted) WITH (FORCE)"),
                    logger: logger)
                try await OrgRoles.drop(placement.name, on: connection, logger: logger)
            }
        }
        let storage = "\(artifactRoot)/\(org.uuidString.lowercased())"
        // On NIO's thread pool: an org's artifacts can be many files, and in `tessera serve` the caller's thread is an
        // event loop.
        try await NIOThreadPool.singleton.runIfActive {
            if FileManager.default.fileExists(atPath: storage) { try FileManager.default.removeItem(atPath: storage) }
        }
        try await metadata.withTransaction(logger: logger) { connection in
            try await orgs.delete(org, on: connection)
            try await audit(.orgPurge, org: org, on: connection)
        }
        logger.notice("org purged", metadata: ["org": "\(org)"])
    }

    /// A lifecycle record by the system, in the org's chain.
    func audit(
        _ action: AuditAction, org: UUID, outcome: AuditOutcome = .succeeded, metadata: [String: String] = [:],
        on connection: PostgresConnection
    ) async throws {
        try await AuditStore(logger: logger).append(
            AuditEvent(
                org: org, actorKind: .system, actorDisplay: "provisioner", action: action, entityType: "org",
                entityID: org.uuidString.lowercased(), outcome: outcome, metadata: metadata),
            on: connection)
    }

    func locate(_ org: UUID) async throws -> (OrgPlacement, ServerConnection) {
        try await metadata.withConnection { connection in
            guard let placement = try await orgs.placement(org, on: connection),
                let server = try await ServerStore(box: box, logger: logger).connection(
                    server: placement.serverID, tls: tls, on: connection)
            else { throw ProvisioningError("the org has not been placed on a server") }
            return (placement, server)
        }
    }
}

public struct ProvisioningError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The steps of one provisioning run share one admin connection to the org's server, opened on first use.
actor AdminSession {
    let provisioner: Provisioner
    let org: UUID
    private var location: (OrgPlacement, ServerConnection)?
    private var connection: PostgresConnection?

    init(provisioner: Provisioner, org: UUID) {
        self.provisioner = provisioner
        self.org = org
    }

    func located() async throws -> (OrgPlacement, ServerConnection) {
        if let location { return location }
        let found = try await provisioner.locate(org)
        location = found
        return found
    }

    /// An admin connection to the server's `postgres` database (for roles and databases).
    func admin() async throws -> PostgresConnection {
        if let connection { return connection }
        let (_, server) = try await located()
        let opened = try await PostgresConnection.connect(
            configuration: try server.connectionConfiguration(
                user: server.adminUser, password: server.adminPassword, database: "postgres"),
            id: 1, logger: provisioner.logger)
        connection = opened
        return opened
    }

    func close() async {
        try? await connection?.close()
        connection = nil
    }
}
