import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TesseraCore
import TesseraPostgres

/// Works through orgs in `provisioning`, in every gateway process: on start-up it picks up whatever a
/// crash left half done, then polls. A per-org advisory lock keeps two processes off the same org. Each listing
/// and each org's work waits at most `passDeadline`: work that outlasts it is abandoned (cancelled and left to end
/// on its own; every step can be taken again) so that the next pass, and the other orgs, are not held up by it.
public struct ProvisioningService: Service {
    let provisioner: Provisioner
    let metadata: PostgresClient
    let interval: Duration
    let passDeadline: Duration
    let logger: Logger
    private let wakes: AsyncStream<Void>
    private let waker: AsyncStream<Void>.Continuation

    public init(
        provisioner: Provisioner, metadata: PostgresClient, interval: Duration = .milliseconds(500),
        passDeadline: Duration = .seconds(60), logger: Logger
    ) {
        self.provisioner = provisioner
        self.metadata = metadata
        self.interval = interval
        self.passDeadline = passDeadline
        self.logger = logger
        (wakes, waker) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Starts a pass now (an org was just created here) instead of at the next tick.
    public func wake() {
        waker.yield()
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let ticker = Task {
                while !Task.isCancelled {
                    self.waker.yield()
                    try? await Task.sleep(for: self.interval)
                }
            }
            defer { ticker.cancel() }
            for await _ in self.wakes {
                if Task.isCancelled { break }
                do {
                    try await self.pass()
                } catch {
                    if Task.isCancelled { break }
                    self.logger.warning(
                        "provisioning pass failed", metadata: ["error": "\(describeDatabaseError(error))"])
                }
            }
        }
    }

    /// One pass over the orgs waiting for provisioning.
    public func pass() async throws {
        let waiting = try await withDeadline(passDeadline) { [metadata, logger] in
            try await metadata.withConnection {
                try await OrgStore(logger: logger).awaitingProvisioning(limit: 20, on: $0)
            }
        }
        for org in waiting where !Task.isCancelled {
            await bounded(org, "provisioning") { try await provisionIfFree(org) }
        }
        let purging = try await withDeadline(passDeadline) { [metadata, logger] in
            try await metadata.withConnection { try await OrgStore(logger: logger).awaitingPurge(limit: 20, on: $0) }
        }
        for org in purging where !Task.isCancelled {
            await bounded(org, "purging") { try await withOrgLock(org) { try await provisioner.purge(org) } }
        }
    }

    /// One org's work within `passDeadline`; a failure is logged (the org is taken up again at a later pass).
    func bounded(_ org: UUID, _ what: String, _ work: @escaping @Sendable () async throws -> Bool) async {
        do {
            _ = try await withDeadline(passDeadline, work)
        } catch {
            if Task.isCancelled { return }
            logger.warning(
                "\(what) an org did not end", metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
        }
    }

    /// Provisions `org` unless another process holds its lock; false when it did.
    public func provisionIfFree(_ org: UUID) async throws -> Bool {
        try await withOrgLock(org) { try await provisioner.provision(org) }
    }

    /// Runs `work` holding the org's advisory lock; false (without running it) when another process holds it.
    func withOrgLock(_ org: UUID, _ work: () async throws -> Void) async throws -> Bool {
        try await metadata.withConnection { connection in
            let key = AdvisoryLock.provisioning(org)
            let locked = try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger).collect()[0]
                .decode(Bool.self)
            guard locked else { return false }
            do {
                try await work()
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
                throw error
            }
            _ = try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
            return true
        }
    }
}
