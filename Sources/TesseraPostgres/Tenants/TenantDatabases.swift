import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TesseraCore

/// Connections to org databases, each opened as the org's own role, from one budget shared by every org
/// (`ConnectionBudget` keeps the books). A request waits for a connection at most `deadline`, whatever
/// the state of the org's database or of the other orgs, then answers 503; a dead connection is dropped
/// when it is next taken or comes back, and an org whose connects fail backs off and answers 503 at once.
public final class TenantDatabases: Service, Sendable {
    struct State: ~Copyable {
        var budget: ConnectionBudget<PostgresConnection>
        var waiters: [Int: CheckedContinuation<PostgresConnection, any Error>] = [:]
        /// Where each org's database is and its role's password, read from the metadata database on the
        /// org's first connect and after a failed one.
        var targets: [UUID: PostgresConnection.Configuration] = [:]
        var nextID = 0
    }

    let metadata: PostgresClient
    let box: SecretBox
    let tls: Settings.DatabaseTLS
    /// The longest a request waits for a connection.
    public let deadline: Duration
    /// The longest one piece of work on a connection may take.
    let statementLimit: Duration
    let shutdownGrace: Duration
    let logger: Logger
    private let state: Mutex<State>

    public init(metadata: PostgresClient, box: SecretBox, settings: Settings, logger: Logger) {
        self.metadata = metadata
        self.box = box
        self.tls = settings.database.tls
        self.deadline = .milliseconds(settings.tenants.deadlineMilliseconds)
        self.statementLimit = .seconds(settings.tenants.statementSeconds)
        self.shutdownGrace = .seconds(max(1, settings.http.shutdownSeconds / 2))
        self.logger = logger
        let limits = ConnectionBudget<PostgresConnection>.Limits(
            maxConnections: settings.tenants.maxConnections, maxPerOrg: settings.tenants.maxPerOrg,
            idleTimeout: .seconds(settings.tenants.idleSeconds))
        state = Mutex(State(budget: ConnectionBudget(limits: limits, isOpen: { !$0.isClosed })))
    }

    /// Runs `body` on a connection to the org's database; 503 when none comes within the deadline or the
    /// database is unreachable.
    /// `logger` is the caller's (a request's, with its id), for what happens to this piece of work.
    /// In a span of its own (`org database`, with the org's id) when tracing is on: the wait for a connection and
    /// the statements run on it.
    public func withConnection<T: Sendable>(
        org: UUID, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await traced("org database", attributes: ["tessera.org_id": org.uuidString.lowercased()]) {
            try await connected(org: org, logger: logger, body)
        }
    }

    private func connected<T: Sendable>(
        org: UUID, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await acquire(org)
        try await checkIfIdleLong(org, connection, logger: logger)
        let result: T
        do {
            result = try await untilClosed(connection) { try await body(connection) }
        } catch is DeadlineExceeded {
            release(org, connection, reusable: false)
            logger.warning(
                "org database work passed its limit; its connection is dropped",
                metadata: ["org": "\(org)", "limit": "\(statementLimit)"])
            throw TesseraError.unavailable("the organization's database did not answer within \(statementLimit)")
        } catch {
            release(org, connection, reusable: Self.leavesConnectionUsable(error))
            if error is ConnectionLost || isConnectionFailure(error) {
                logger.warning(
                    "org database connection lost",
                    metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
                throw TesseraError.unavailable("the organization's database is unreachable")
            }
            throw error
        }
        release(org, connection, reusable: true)
        return result
    }

    /// Runs `body` in a transaction on the org's database (503 as `withConnection` when it does not answer).
    public func withTransaction<T: Sendable>(
        org: UUID, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection(org: org, logger: logger) { connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }

    /// The orgs holding or waiting for connections now.
    public var openOrgs: [UUID] { state.withLock { $0.budget.orgIDs } }

    /// Connections to org databases now (idle, in use, being opened or closed).
    public var connectionCount: Int { state.withLock { $0.budget.total } }

    /// Each open org's connections (idle, in use, being opened) and waiting requests now, with the server its
    /// database is on (`host:port`; empty before its first connect): for metrics.
    public var usage: [(org: UUID, server: String, usage: ConnectionUsage)] {
        state.withLock { state in
            state.budget.usage.map { org, usage in
                let target = state.targets[org]
                let server = target.map { "\($0.host ?? $0.unixSocketPath ?? ""):\($0.port ?? 0)" } ?? ""
                return (org, server, usage)
            }
        }
    }

    /// Connections the org holds now.
    public func connectionCount(org: UUID) -> Int { state.withLock { $0.budget.count(of: org) } }

    public var totalConnectionBound: Int { state.withLock { $0.budget.limits.maxConnections } }

    /// Closes the org's connections (its database is being suspended or dropped).
    public func close(org: UUID) {
        var actions = ConnectionBudget<PostgresConnection>.Actions()
        state.withLock {
            $0.budget.close(org, now: .now, actions: &actions)
            $0.targets[org] = nil
        }
        perform(actions)
    }

    /// How often `run()` ends work past the statement limit; idle connections are closed every fourth time.
    static let sweepInterval = Duration.milliseconds(250)

    /// Until shutdown: ends work past the statement limit and closes idle connections, on an interval. Then
    /// closes every connection: those in use when they come back, or after the grace period whatever they
    /// are doing. (Without `run()`, as in some tests, work has no statement limit.)
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var sweeps = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.sweepInterval)
                self.sweepLateWork(now: .now)
                sweeps += 1
                guard sweeps % 4 == 0 else { continue }
                var actions = ConnectionBudget<PostgresConnection>.Actions()
                self.state.withLock { $0.budget.expireIdle(now: .now, actions: &actions) }
                self.perform(actions)
            }
        }
        await closeAll()
    }

    /// Stops handing out connections and closes them all, waiting up to the grace period for those in use.
    public func closeAll() async {
        var actions = ConnectionBudget<PostgresConnection>.Actions()
        state.withLock { $0.budget.shutdown(actions: &actions) }
        perform(actions)
        let started = ContinuousClock.now
        while connectionCount > 0, ContinuousClock.now - started < shutdownGrace {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let abandoned = state.withLock { $0.budget.leasedConnections }
        if !abandoned.isEmpty {
            logger.warning(
                "closing org database connections still in use at shutdown",
                metadata: ["connections": "\(abandoned.count)", "waited": "\(shutdownGrace)"])
            for connection in abandoned { Self.close(connection) }
        }
    }

    // MARK: - Private

    /// A connection of the org's: an idle one at once, else the first one free or opened within the deadline.
    func acquire(_ org: UUID) async throws -> PostgresConnection {
        var actions = ConnectionBudget<PostgresConnection>.Actions()
        let acquired = state.withLock { $0.budget.acquire(org, waiter: nil, now: .now, actions: &actions) }
        perform(actions)
        switch acquired {
        case .connection(let connection): return connection
        case .failed(let failure, _): throw Self.error(failure)
        case .queued: break  // nothing idle: wait in the org's line
        }
        let timer = TimerSlot()
        defer { timer.cancel() }
        let waiter = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                var actions = ConnectionBudget<PostgresConnection>.Actions()
                let acquired = state.withLock { state in
                    let acquired = state.budget.acquire(org, waiter: waiter, now: .now, actions: &actions)
                    if case .queued = acquired { state.waiters[waiter] = continuation }
                    return acquired
                }
                switch acquired {
                case .connection(let connection): continuation.resume(returning: connection)
                case .failed(let failure, _): continuation.resume(throwing: Self.error(failure))
                case .queued:
                    timer.start(after: deadline) {
                        self.giveUp(
                            org, waiter: waiter,
                            TesseraError.unavailable(
                                "no connection to the organization's database came free within \(self.deadline)"))
                    }
                }
                perform(actions)
            }
        } onCancel: {
            self.giveUp(org, waiter: waiter, CancellationError())
        }
    }

    /// Ends a wait that is still queued with `error`.
    private func giveUp(_ org: UUID, waiter: Int, _ error: any Error) {
        let continuation = state.withLock { state -> CheckedContinuation<PostgresConnection, any Error>? in
            guard state.budget.cancel(org, waiter: waiter) else { return nil }
            return state.waiters.removeValue(forKey: waiter)
        }
        continuation?.resume(throwing: error)
    }

    /// Runs `work` on `connection`, ending with `DeadlineExceeded` past `statementLimit` (a frozen server answers
    /// nothing, not even an error) and with `ConnectionLost` as soon as the connection closes. PostgresNIO
    /// (1.33.2) never completes a query written to a connection whose channel has just closed (a `ROLLBACK`
    /// after a failed statement, say), so work on a lost connection is abandoned, not awaited. The limit is
    /// kept by `run()`'s sweep (every `sweepInterval`), not by a timer of each piece of work's own: a timer task
    /// a query cost a sixth of a tenant read (bench/read).
    private func untilClosed<T: Sendable>(
        _ connection: PostgresConnection, _ work: @escaping @Sendable () async throws -> T
    ) async throws
        -> T
    {
        let id = ObjectIdentifier(connection)
        defer { _ = inUse.withLock { $0.removeValue(forKey: id) } }
        // Started on the caller's thread: the work writes its first statement before it suspends, and a hop to be
        // scheduled first cost 8–15 % of a tenant read's CPU (bench/read).
        return try await racing(startingAtOnce: true, work) { race in
            let deadline = ContinuousClock.now + statementLimit
            inUse.withLock {
                $0[id] = Work(
                    deadline: deadline, lost: { race.finish(.failure(ConnectionLost())) },
                    late: { race.finish(.failure(DeadlineExceeded())) })
            }
            if connection.isClosed { race.finish(.failure(ConnectionLost())) }
            return nil
        }
    }

    /// Ends work past its statement limit.
    private func sweepLateWork(now: ContinuousClock.Instant) {
        let late = inUse.withLock { inUse in inUse.values.filter { $0.deadline <= now } }
        for work in late { work.late() }
    }

    /// Told of each org whose outbox a committed change wrote to (the audit relay).
    private let auditListener = Mutex<(@Sendable (UUID) -> Void)?>(nil)

    /// Calls `listener` with the org each time a change committed audit records to its outbox.
    public func onAuditWritten(_ listener: @escaping @Sendable (UUID) -> Void) {
        auditListener.withLock { $0 = listener }
    }

    func auditWritten(_ org: UUID) {
        auditListener.withLock { $0 }?(org)
    }

    /// Work running on a connection: when it must end, and how to end it.
    struct Work: Sendable {
        let deadline: ContinuousClock.Instant
        /// The connection closed under it.
        let lost: @Sendable () -> Void
        /// It passed its deadline.
        let late: @Sendable () -> Void
    }

    /// Work on connections in use, by connection.
    private let inUse = Mutex<[ObjectIdentifier: Work]>([:])

    /// A connection closed: work running on it ends now.
    private func lost(_ connection: PostgresConnection) {
        _ = idleSince.withLock { $0.removeValue(forKey: ObjectIdentifier(connection)) }
        inUse.withLock { $0.removeValue(forKey: ObjectIdentifier(connection)) }?.lost()
    }

    /// When each idle connection was last given back, by connection.
    private let idleSince = Mutex<[ObjectIdentifier: ContinuousClock.Instant]>([:])

    /// A connection idle longer than this answers a `SELECT 1` within the deadline before it is used: a frozen
    /// server (stopped, swapped out, cut off without a reset) answers nothing, not even an error, and the
    /// request must not wait on it past the deadline. Connections in steady use are not checked.
    static let checkAfterIdle = Duration.seconds(1)

    private func checkIfIdleLong(_ org: UUID, _ connection: PostgresConnection, logger: Logger) async throws {
        guard let since = idleSince.withLock({ $0.removeValue(forKey: ObjectIdentifier(connection)) }),
            ContinuousClock.now - since > Self.checkAfterIdle
        else { return }
        do {
            try await withDeadline(deadline) { _ = try await connection.sql("SELECT 1", logger: logger) }
        } catch {
            release(org, connection, reusable: false)
            logger.warning(
                "an idle org database connection did not answer a check",
                metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
            throw TesseraError.unavailable("the organization's database did not answer within \(deadline)")
        }
    }

    private func release(_ org: UUID, _ connection: PostgresConnection, reusable: Bool) {
        idleSince.withLock { $0[ObjectIdentifier(connection)] = reusable ? .now : nil }
        var actions = ConnectionBudget<PostgresConnection>.Actions()
        state.withLock { $0.budget.release(org, connection, reusable: reusable, now: .now, actions: &actions) }
        perform(actions)
    }

    /// Does the budget's I/O: wakes waiters, closes connections, opens new ones in tasks of their own.
    private func perform(_ actions: ConnectionBudget<PostgresConnection>.Actions) {
        guard !actions.isEmpty else { return }
        if !actions.wake.isEmpty {
            let continuations = state.withLock { state in
                actions.wake.map { state.waiters.removeValue(forKey: $0.waiter) }
            }
            for (continuation, (_, result)) in zip(continuations, actions.wake) {
                continuation?.resume(with: result.mapError { Self.error($0) as any Error })
            }
        }
        for connection in actions.close { retire(connection) }
        for org in actions.connect {
            Task { await self.open(org) }
        }
    }

    /// Closes a connection the budget let go of and tells the budget when it has closed: until then it counts, so
    /// that the connection opened in its place does not take the server past `tenants.max_connections`.
    private func retire(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in
            withExtendedLifetime(connection) {}
            var actions = ConnectionBudget<PostgresConnection>.Actions()
            self.state.withLock { $0.budget.closed(now: .now, actions: &actions) }
            self.perform(actions)
        }
    }

    /// Opens one connection to the org's database, within the deadline.
    private func open(_ org: UUID) async {
        var actions = ConnectionBudget<PostgresConnection>.Actions()
        do {
            let target = try await self.target(org)
            let connection = try await withDeadline(
                deadline, onAbandoned: { try? await $0.close() },
                { [logger] in try await Self.connect(target, logger: logger) })
            connection.closeFuture.whenComplete { [weak self] _ in self?.lost(connection) }
            state.withLock { $0.budget.connected(org, connection, now: .now, actions: &actions) }
        } catch {
            logger.warning(
                "could not connect to an org database",
                metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
            state.withLock {
                $0.targets[org] = nil  // read again next time: the password or the placement may have changed
                $0.budget.connectFailed(org, now: .now, actions: &actions)
            }
        }
        perform(actions)
    }

    private func target(_ org: UUID) async throws -> PostgresConnection.Configuration {
        if let cached = state.withLock({ $0.targets[org] }) { return cached }
        let (placement, server) = try await withDeadline(deadline) { [metadata, box, tls, logger] in
            try await metadata.withConnection { connection -> (OrgPlacement?, ServerConnection?) in
                guard let placement = try await OrgStore(logger: logger).placement(org, on: connection) else {
                    return (nil, nil)
                }
                let server = try await ServerStore(box: box, logger: logger).connection(
                    server: placement.serverID, tls: tls, on: connection)
                return (placement, server)
            }
        }
        guard let placement, let server else { throw TesseraError.unavailable("the organization has no database yet") }
        var target = try server.connectionConfiguration(
            user: placement.name.value, password: try box.open(placement.sealedPassword, for: org),
            database: placement.name.value)
        target.options.connectTimeout = TimeAmount(deadline)
        state.withLock { $0.targets[org] = target }
        return target
    }

    /// Opens a connection to `target`. To an IP address (what a server's entry usually holds) through a channel
    /// connected here to that address: PostgresNIO resolves even an address literal, with `getaddrinfo` on a
    /// Dispatch thread and a Happy Eyeballs race (bench/scale: 10 % of the gateway's CPU a new org connection). A
    /// host name goes through PostgresNIO as before. TLS and its server name are the same either way (no server
    /// name is sent for an address).
    static func connect(_ target: PostgresConnection.Configuration, logger: Logger) async throws -> PostgresConnection {
        let id = Int.random(in: 0..<Int.max)
        guard let host = target.host, let port = target.port,
            let address = try? SocketAddress(ipAddress: host, port: port)
        else { return try await PostgresConnection.connect(configuration: target, id: id, logger: logger) }
        let loop = callersEventLoop()
        let channel = try await ClientBootstrap(group: loop).connectTimeout(target.options.connectTimeout)
            .connect(to: address).get()
        var configuration = PostgresConnection.Configuration(
            establishedChannel: channel, tls: target.tls, username: target.username, password: target.password,
            database: target.database)
        configuration.options = target.options
        do {
            return try await PostgresConnection.connect(on: loop, configuration: configuration, id: id, logger: logger)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// Closes a connection, keeping it alive until its channel has closed (one dropped before that is a bug
    /// PostgresNIO asserts on).
    static func close(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// The connection closed under the work.
    struct ConnectionLost: Error {}

    static func error(_ failure: ConnectionBudget<PostgresConnection>.Failure) -> TesseraError {
        switch failure {
        case .unreachable: .unavailable("the organization's database is unreachable")
        case .closed: .unavailable("the organization's database is being closed")
        case .shuttingDown: .unavailable("the gateway is shutting down")
        }
    }

    /// After this error the connection may be used again: the server answered with an error and the
    /// transaction, if any, was rolled back. Cancelled or cut work may have left it mid-statement.
    static func leavesConnectionUsable(_ error: any Error) -> Bool {
        if error is CancellationError || error is ConnectionLost || isConnectionFailure(error) { return false }
        if let tx = error as? PostgresTransactionError { return tx.rollbackError == nil && tx.commitError == nil }
        return true
    }
}

/// A deadline timer started once, cancelled when the wait ends.
final class TimerSlot: Sendable {
    private let timer = Mutex<LoopTimer?>(nil)

    func start(after delay: Duration, _ fire: @escaping @Sendable () -> Void) {
        timer.withLock { $0 = LoopTimer(after: delay, fire) }
    }

    func cancel() { timer.withLock { $0?.cancel() } }
}

extension TenantDatabases {
    /// A page of an org's rows in (created_at, id) order after the cursor: `select` is a `SELECT … FROM table`
    /// with no WHERE of its own (the page's keyset condition is added).
    func page<T: Sendable>(
        org: UUID, _ select: String, after: (Date, UUID)?, limit: Int, logger: Logger,
        _ decode: @escaping @Sendable (PostgresRow) throws -> T
    ) async throws -> [T] {
        let (afterTime, afterID) = (after?.0, after?.1)
        return try await withConnection(org: org, logger: logger) { connection in
            try await connection.sql(
                """
                \(unescaped: select)
                WHERE (\(afterTime)::timestamptz IS NULL OR (created_at, id) > (\(afterTime)::timestamptz, \(afterID)::uuid))
                ORDER BY created_at, id LIMIT \(limit)
                """, logger: logger
            ).collect().map(decode)
        }
    }
}
