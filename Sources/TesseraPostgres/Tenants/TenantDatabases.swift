import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TesseraCore

/// Connection pools to org databases, opened on demand as each org's own role. At most `maxOpen` pools
/// are open (the least recently used closes first) with `maxConnections / maxOpen` connections each, so
/// the total stays bounded however many orgs there are.
public actor TenantDatabases: Service {
    struct Pool {
        let client: PostgresClient
        let runner: Task<Void, Never>
        var lastUsed: ContinuousClock.Instant
    }

    let metadata: PostgresClient
    let box: SecretBox
    let tls: Settings.TLSMode
    let maxOpen: Int
    let perPool: Int
    let timeout: Duration
    let logger: Logger
    private var pools: [UUID: Pool] = [:]
    private var opening: [UUID: Task<PostgresClient, any Error>] = [:]

    public init(metadata: PostgresClient, box: SecretBox, settings: Settings, timeout: Duration = .seconds(3), logger: Logger) {
        self.metadata = metadata
        self.box = box
        self.tls = settings.database.tls
        self.maxOpen = settings.tenants.maxOpen
        self.perPool = max(1, settings.tenants.maxConnections / settings.tenants.maxOpen)
        self.timeout = timeout
        self.logger = logger
    }

    /// Runs `body` on a connection to the org's database; 503 when that database does not answer in time.
    public nonisolated func withConnection<T: Sendable>(
        org: UUID, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let client = try await pool(for: org)
        do {
            return try await withDeadline(timeout) { try await client.withConnection(body) }
        } catch is DeadlineExceeded {
            throw TesseraError.unavailable("the organization's database did not answer within \(timeout)")
        } catch let error as PSQLError where error.code == .connectionError || error.code == .serverClosedConnection {
            logger.warning("org database unreachable", metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
            throw TesseraError.unavailable("the organization's database is unreachable")
        }
    }

    /// Pools open now (for tests and metrics).
    public var openCount: Int { pools.count }

    public var totalConnectionBound: Int { maxOpen * perPool }

    func pool(for org: UUID) async throws -> PostgresClient {
        if var pool = pools[org] {
            pool.lastUsed = .now
            pools[org] = pool
            return pool.client
        }
        if let pending = opening[org] { return try await pending.value }
        let task = Task { try await self.open(org) }
        opening[org] = task
        defer { opening[org] = nil }
        return try await task.value
    }

    private func open(_ org: UUID) async throws -> PostgresClient {
        let (placement, server) = try await metadata.withConnection { connection -> (OrgPlacement?, ServerConnection?) in
            guard let placement = try await OrgStore(logger: logger).placement(org, on: connection) else { return (nil, nil) }
            let server = try await ServerStore(box: box, logger: logger).connection(server: placement.serverID, tls: tls, on: connection)
            return (placement, server)
        }
        guard let placement, let server else { throw TesseraError.unavailable("the organization has no database yet") }
        let password = try box.open(placement.sealedPassword, for: org)
        let client = server.orgClient(placement.name, password: password, maxConnections: perPool, logger: logger)
        let runner = Task { await client.run() }
        pools[org] = Pool(client: client, runner: runner, lastUsed: .now)
        evictIfNeeded()
        return client
    }

    private func evictIfNeeded() {
        while pools.count > maxOpen, let (org, pool) = pools.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            pools[org] = nil
            // Requests that took the pool a moment ago finish first.
            Task {
                try? await Task.sleep(for: .seconds(5))
                pool.runner.cancel()
            }
        }
    }

    /// Closes the org's pool (its database is being suspended or dropped).
    public func close(org: UUID) {
        pools.removeValue(forKey: org)?.runner.cancel()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        closeAll()
    }

    /// Closes every pool (at shutdown).
    public func closeAll() {
        for pool in pools.values { pool.runner.cancel() }
        pools.removeAll()
    }
}

public struct DeadlineExceeded: Error {}

/// Runs `work`, cancelling it and throwing `DeadlineExceeded` after `timeout`.
public func withDeadline<T: Sendable>(_ timeout: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
