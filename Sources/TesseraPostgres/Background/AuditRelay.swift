import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TesseraCore

/// Moves audit events from org databases' outboxes to `audit_logs`, in outbox order per org, exactly once
/// (the event id makes a second delivery a no-op; how far the org's outbox has been read is stored with the
/// records, in the same metadata transaction — an org's role can add to its outbox, never mark or remove). Woken by each tenant change; sweeps every org at start-up (a crash may have left events)
/// and then every `sweepInterval`. A wake that finds the org's relay busy elsewhere (which may have read the
/// outbox before this event committed) or that fails is tried again soon, backing off, not left to the sweep.
public actor AuditRelay: Service {
    let metadata: PostgresClient
    let tenants: TenantDatabases
    let sweepInterval: Duration
    /// The longest one pass over an org's outbox may take before the relay stops waiting for it and tries again.
    /// A pass whose metadata connection closed under it (the database restarted) can wait for ever: PostgresNIO
    /// 1.33.2 never completes a query written to a just-closed channel. Delivery is not lost: the position
    /// advances with each batch, and the event ids make a batch delivered twice a no-op.
    let passDeadline: Duration
    let logger: Logger
    private var waitingSince: [UUID: ContinuousClock.Instant] = [:]
    private var retries: [UUID: Int] = [:]
    private nonisolated let wakes: AsyncStream<UUID>
    private nonisolated let waker: AsyncStream<UUID>.Continuation

    public init(
        metadata: PostgresClient, tenants: TenantDatabases, sweepInterval: Duration = .seconds(60),
        passDeadline: Duration = .seconds(15), logger: Logger
    ) {
        self.metadata = metadata
        self.tenants = tenants
        self.sweepInterval = sweepInterval
        self.passDeadline = passDeadline
        self.logger = logger
        (wakes, waker) = AsyncStream.makeStream(of: UUID.self)
        tenants.onAuditWritten { [waker] org in waker.yield(org) }
    }

    /// An org's database has a new outbox event (changes through `TenantDatabases.change` say so themselves).
    public nonisolated func wake(_ org: UUID) {
        waker.yield(org)
    }

    /// Seconds the oldest event known to be waiting has waited (0 when none).
    public func lagSeconds() -> Double {
        guard let oldest = waitingSince.values.min() else { return 0 }
        let lag = ContinuousClock.now - oldest
        return lag.inSeconds
    }

    /// Orgs with events known to be waiting for the relay.
    public func waitingOrgs() -> Int { waitingSince.count }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let sweeper = Task {
                while !Task.isCancelled {
                    await self.sweep()
                    try? await Task.sleep(for: self.sweepInterval)
                }
            }
            defer { sweeper.cancel() }
            for await org in self.wakes {
                if Task.isCancelled { break }
                await self.noteWaiting(org)
                do {
                    if try await self.boundedRelay(org) != nil {
                        await self.succeeded(org)
                        continue
                    }
                } catch  where Task.isCancelled {
                    break  // shutting down: the outbox keeps the events for the next start's sweep
                } catch {
                    self.logger.warning(
                        "audit relay failed", metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
                }
                await self.retryLater(org)
            }
        }
    }

    func noteWaiting(_ org: UUID) {
        if waitingSince[org] == nil { waitingSince[org] = .now }
    }

    func succeeded(_ org: UUID) {
        retries[org] = nil
    }

    /// Wakes the org again after 0.1 s, 0.2 s, 0.4 s … (at most the sweep interval).
    func retryLater(_ org: UUID) {
        let attempt = (retries[org] ?? 0) + 1
        retries[org] = attempt
        wake(org, after: min(Duration.milliseconds(100 * (1 << min(attempt - 1, 12))), sweepInterval))
    }

    /// Committed records wait behind a transaction of the org's database still running: read again in 0.2 s
    /// (no later change may come to wake the relay).
    func waitBehindRunning(_ org: UUID) {
        wake(org, after: .milliseconds(200))
    }

    /// Wakes the org's relay once `delay` has passed.
    nonisolated func wake(_ org: UUID, after delay: Duration) {
        Task { [waker] in
            try? await Task.sleep(for: delay)
            waker.yield(org)
        }
    }

    /// Relays every org with a database.
    public func sweep() async {
        let orgs =
            (try? await metadata.withConnection { connection in
                try await connection.sql(
                    "SELECT d.org_id FROM org_databases d JOIN organizations o ON o.id = d.org_id WHERE o.status IN ('ready', 'suspended')",
                    logger: logger
                ).collect().map { try $0.decode(UUID.self) }
            }) ?? []
        for org in orgs where !Task.isCancelled {
            do {
                _ = try await boundedRelay(org)
            } catch  where Task.isCancelled {
                return
            } catch {
                logger.warning(
                    "audit relay failed", metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
            }
        }
    }

    /// `relay(org)` within `passDeadline` (then `DeadlineExceeded`, and the pass is left to end on its own).
    func boundedRelay(_ org: UUID) async throws -> Int? {
        try await traced("audit relay", attributes: ["tessera.org_id": org.uuidString.lowercased()]) {
            try await withDeadline(passDeadline) { try await self.relay(org) }
        }
    }

    /// Delivers the org's pending events; returns how many, or nil when another relay of the org holds its lock.
    /// One relay per org at a time, across processes.
    @discardableResult
    public func relay(_ org: UUID) async throws -> Int? {
        let logger = self.logger
        let delivered = try await metadata.withConnection { lockConnection -> Int? in
            let (lock, key) = (AdvisoryLock.auditRelay, AdvisoryLock.relayObject(org))
            guard
                try await lockConnection.sql("SELECT pg_try_advisory_lock(\(lock), \(key))", logger: logger)
                    .collect()[0].decode(Bool.self)
            else { return nil }
            do {
                var total = 0
                var position = try await AuditOutbox.position(org: org, on: lockConnection, logger: logger)
                while true {
                    let (events, last, heldBack) = try await tenants.withConnection(org: org, logger: logger) {
                        [position] in
                        try await AuditOutbox.pending(org: org, after: position, limit: 500, on: $0, logger: logger)
                    }
                    if heldBack { waitBehindRunning(org) }
                    guard let last else { break }
                    try await metadata.withTransaction(logger: logger) { connection in
                        for pending in events {
                            switch pending {
                            case .event(let event, let job):
                                if try await AuditStore(logger: logger).append(event, on: connection), let job {
                                    try await JobMirror.apply(job, org: org, on: connection, logger: logger)
                                }
                            case .rejected(let id, let claimed, let reason):
                                logger.warning(
                                    "audit relay refused an outbox record",
                                    metadata: ["org": "\(org)", "event_id": "\(id)", "reason": "\(reason)"])
                                _ = try await AuditStore(logger: logger).append(
                                    AuditEvent(
                                        org: org, actorKind: .system, actorDisplay: "audit relay",
                                        action: .auditRelayReject, entityType: "audit_outbox",
                                        entityID: id.uuidString.lowercased(), outcome: .denied,
                                        metadata: ["claimed_action": String(claimed.prefix(64)), "reason": reason],
                                        eventID: id),
                                    on: connection)
                            }
                        }
                        try await AuditOutbox.advance(org: org, to: last, on: connection, logger: logger)
                    }
                    position = last
                    total += events.count
                }
                _ = try await lockConnection.sql("SELECT pg_advisory_unlock(\(lock), \(key))", logger: logger)
                return total
            } catch {
                _ = try? await lockConnection.sql("SELECT pg_advisory_unlock(\(lock), \(key))", logger: logger)
                throw error
            }
        }
        if delivered != nil { waitingSince[org] = nil }
        return delivered
    }
}
