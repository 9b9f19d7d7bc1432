import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TesseraCore

/// Chains audit records that changes left queued. While it runs, a change that found its chain busy (another
/// transaction was chaining it) hands the chain over here after its commit and is answered at once, its records
/// durable in `audit_pending`: each pass takes every chain handed over since the last and chains it in one
/// transaction, so concurrent changes to one org share one chaining instead of each waiting for the chain's lock
/// after its commit. Without it (the command line, a client with no gateway) a change chains them itself before it
/// returns. Also looks every `interval` for records queued longer than `age` (a process stopped, or a chaining
/// failed, between a commit and its chaining); finds none in the ordinary course.
public struct AuditChainer: Service {
    let metadata: PostgresClient
    let interval: Duration
    let age: Duration
    let logger: Logger

    public init(metadata: PostgresClient, interval: Duration = .seconds(2), age: Duration = .seconds(2), logger: Logger)
    {
        self.metadata = metadata
        self.interval = interval
        self.age = age
        self.logger = logger
    }

    /// The chains handed over to a running chainer, by the client it chains through.
    private static let inboxes = Mutex<[ObjectIdentifier: Inbox]>([:])

    /// The running chainer of `client`'s database, if any.
    static func inbox(for client: PostgresClient) -> Inbox? {
        inboxes.withLock { $0[ObjectIdentifier(client)] }
    }

    /// Whether a chainer is running for `client`'s database (changes through it hand busy chains over).
    public static func isRunning(for client: PostgresClient) -> Bool { inbox(for: client) != nil }

    /// Chains handed over and not yet taken.
    final class Inbox: Sendable {
        private let chains = Mutex<Set<UUID?>>([])
        private let waker: AsyncStream<Void>.Continuation

        init(waker: AsyncStream<Void>.Continuation) { self.waker = waker }

        /// Hands over chains (nil: the platform's) whose records a committed change left queued.
        func handOver(_ orgs: [UUID?]) {
            chains.withLock { $0.formUnion(orgs) }
            waker.yield()
        }

        func take() -> Set<UUID?> {
            chains.withLock { chains in
                defer { chains = [] }
                return chains
            }
        }
    }

    public func run() async throws {
        let (wakes, waker) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let inbox = Inbox(waker: waker)
        let key = ObjectIdentifier(metadata)
        Self.inboxes.withLock { $0[key] = inbox }
        defer { Self.inboxes.withLock { if $0[key] === inbox { $0[key] = nil } } }
        await cancelWhenGracefulShutdown {
            let sweeper = Task {
                await everyInterval(interval) {
                    do {
                        _ = try await withDeadline(.seconds(15)) { try await sweep() }
                    } catch {
                        logger.warning(
                            "audit chainer could not sweep", metadata: ["error": "\(describeDatabaseError(error))"])
                    }
                }
            }
            defer { sweeper.cancel() }
            for await _ in wakes {
                if Task.isCancelled { break }  // shutting down: what is queued stays for the next start's sweep
                for org in inbox.take() { await chain(org) }
            }
        }
        // Changes from now on chain their own; chains handed over and not taken are left to the sweep.
    }

    /// Chains one chain's queued records; a failure leaves them queued for the sweep.
    func chain(_ org: UUID?) async {
        do {
            _ = try await withDeadline(.seconds(5)) {
                try await metadata.withConnection {
                    try await AuditStore(logger: logger).chainPending(org: org, on: $0)
                }
            }
        } catch {
            Self.warnLeftQueued(org, error, logger: logger)
        }
    }

    /// A chaining failed (after a change's commit, or here): its records stay queued for the sweep.
    static func warnLeftQueued(_ org: UUID?, _ error: any Error, logger: Logger) {
        logger.warning(
            "audit records left queued for the sweep",
            metadata: ["org": "\(org.map { "\($0)" } ?? "platform")", "error": "\(describeDatabaseError(error))"])
    }

    /// Chains what has waited longer than `age`; answers how many records.
    @discardableResult
    public func sweep() async throws -> Int {
        try await metadata.withConnection { connection in
            let store = AuditStore(logger: logger)
            var total = 0
            for org in try await store.chainsWaiting(longerThan: age, on: connection) {
                let moved = try await store.chainPending(org: org, on: connection)
                guard moved > 0 else { continue }  // the change's own chaining took them meanwhile
                logger.info(
                    "queued audit records chained",
                    metadata: ["org": "\(org.map { "\($0)" } ?? "platform")", "records": "\(moved)"])
                total += moved
            }
            return total
        }
    }
}
