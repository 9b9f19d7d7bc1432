import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TesseraCore

/// Connection pools to org databases, opened on demand as each org's own role. At most `maxOpen` pools
/// are open, with `maxConnections / maxOpen` connections each, so the total stays bounded however many
/// orgs there are. To open another, the least recently used pool that no request is using is closed
/// first, and waited for, so even while pools change hands the bound holds.
public actor TenantDatabases: Service {
    final class Pool: Sendable {
        let client: PostgresClient
        let runner: Task<Void, Never>

        init(client: PostgresClient, runner: Task<Void, Never>) {
            self.client = client
            self.runner = runner
        }
    }

    struct Entry {
        let pool: Pool
        var lastUsed: ContinuousClock.Instant
        var active: Int
    }

    let metadata: PostgresClient
    let box: SecretBox
    let tls: Settings.TLSMode
    let maxOpen: Int
    let perPool: Int
    let timeout: Duration
    let logger: Logger
    private var pools: [UUID: Entry] = [:]
    private var opening: [UUID: Task<Pool, any Error>] = [:]
    private var closing = 0

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
        let pool: Pool
        do {
            pool = try await withDeadline(timeout) { try await self.acquire(org) }
        } catch is DeadlineExceeded {
            throw TesseraError.unavailable("no connection to the organization's database came free within \(timeout)")
        }
        defer { Task { await self.release(org, pool) } }
        do {
            return try await Self.withConnection(pool.client, deadline: timeout, body)
        } catch is DeadlineExceeded {
            throw TesseraError.unavailable("the organization's database did not answer within \(timeout)")
        } catch let error as PSQLError where error.code == .connectionError || error.code == .serverClosedConnection {
            logger.warning("org database unreachable", metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
            throw TesseraError.unavailable("the organization's database is unreachable")
        }
    }

    /// Runs `body` on a pooled connection; only getting the connection is bounded by `deadline` (a long
    /// import may take longer than that once it runs).
    static func withConnection<T: Sendable>(
        _ client: PostgresClient, deadline: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let started = Flag()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.withConnection { connection in
                    started.set()
                    return try await body(connection)
                }
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                if started.isSet { return nil }
                throw DeadlineExceeded()
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let value = next { return value }
            }
            throw DeadlineExceeded()
        }
    }

    /// Runs `body` in a transaction on the org's database and writes `audit` to its outbox in the same
    /// transaction, with the entity id `body` returns beside its result; nil (and nothing written) when `body`
    /// returns nil.
    public nonisolated func audited<T: Sendable>(
        org: UUID, _ audit: AuditEvent, logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> (T, String)?
    ) async throws -> T? {
        try await withTransaction(org: org, logger: logger) { tx -> T? in
            guard let (result, entityID) = try await body(tx) else { return nil }
            var event = audit
            event.entityID = entityID
            try await AuditOutbox.write(event, on: tx, logger: logger)
            return result
        }
    }

    /// Runs `body` in a transaction on the org's database (503 as `withConnection` when it does not answer).
    public nonisolated func withTransaction<T: Sendable>(
        org: UUID, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection(org: org) { connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }

    /// The orgs with a pool open now.
    public var openOrgs: [UUID] { Array(pools.keys) }

    /// Pools open now (for tests and metrics).
    public var openCount: Int { pools.count + closing }

    public var totalConnectionBound: Int { maxOpen * perPool }

    /// The org's pool, marked in use until `release`.
    func acquire(_ org: UUID) async throws -> Pool {
        while true {
            if var entry = pools[org] {
                entry.lastUsed = .now
                entry.active += 1
                pools[org] = entry
                return entry.pool
            }
            if let pending = opening[org] {
                _ = try await pending.value
                continue  // now in `pools`
            }
            let task = Task { try await self.open(org) }
            opening[org] = task
            defer { opening[org] = nil }
            _ = try await task.value
        }
    }

    func release(_ org: UUID, _ pool: Pool) {
        if var entry = pools[org], entry.pool === pool {
            entry.active -= 1
            pools[org] = entry
        }
    }

    private func open(_ org: UUID) async throws -> Pool {
        try await makeRoom()
        let (placement, server) = try await metadata.withConnection { connection -> (OrgPlacement?, ServerConnection?) in
            guard let placement = try await OrgStore(logger: logger).placement(org, on: connection) else { return (nil, nil) }
            let server = try await ServerStore(box: box, logger: logger).connection(server: placement.serverID, tls: tls, on: connection)
            return (placement, server)
        }
        guard let placement, let server else { throw TesseraError.unavailable("the organization has no database yet") }
        let password = try box.open(placement.sealedPassword, for: org)
        let client = server.orgClient(placement.name, password: password, maxConnections: perPool, logger: logger)
        let pool = Pool(client: client, runner: Task { await client.run() })
        pools[org] = Entry(pool: pool, lastUsed: .now, active: 0)
        return pool
    }

    /// Waits until a pool may open: closes the least recently used idle pool when all are taken.
    private func makeRoom() async throws {
        while pools.count + closing + opening.count > maxOpen {
            guard let (org, entry) = pools.filter({ $0.value.active == 0 }).min(by: { $0.value.lastUsed < $1.value.lastUsed }) else {
                try await Task.sleep(for: .milliseconds(2))  // every pool is busy: one frees soon
                continue
            }
            pools[org] = nil
            closing += 1
            entry.pool.runner.cancel()
            await entry.pool.runner.value  // its connections are closed: the bound holds
            closing -= 1
        }
    }

    /// Closes the org's pool (its database is being suspended or dropped).
    public func close(org: UUID) {
        pools.removeValue(forKey: org)?.pool.runner.cancel()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        closeAll()
    }

    /// Closes every pool (at shutdown).
    public func closeAll() {
        for entry in pools.values { entry.pool.runner.cancel() }
        pools.removeAll()
    }
}

public struct DeadlineExceeded: Error {}

/// A one-way flag shared between tasks.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

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
