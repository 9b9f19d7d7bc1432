import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// Calls every registered task service's health path on an interval (a 2xx answer within the timeout is a
/// success), records `health_status` and `last_health_check`, and marks a service unhealthy after
/// `failures` consecutive failures (healthy again on the next success). A change of status is audited in the
/// org's chain as the system. One gateway checks at a time (an advisory lock), however many run.
///
/// A service's URL is a tenant's input: each call goes only to a public address (`OutboundPolicy`, asked again
/// before every call), follows no redirect, runs at most `concurrency` at once, and what is recorded of a
/// failure is a short category of ours, never the remote's text.
public struct TaskHealthChecker: Service {
    let metadata: PostgresClient
    let interval: Duration
    let timeout: Duration
    let failures: Int
    let policy: OutboundPolicy
    /// The longest a round may last (its calls are bounded by `timeout`; its database work by this).
    let passDeadline: Duration
    let logger: Logger
    /// Calls in flight at once in one round.
    static let concurrency = 16

    public init(
        metadata: PostgresClient, interval: Duration, timeout: Duration, failures: Int, policy: OutboundPolicy,
        passDeadline: Duration = .seconds(60), logger: Logger
    ) {
        self.metadata = metadata
        self.interval = interval
        self.timeout = timeout
        self.failures = failures
        self.policy = policy
        self.passDeadline = passDeadline
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            // The first round one interval after start, like every later one: a gateway whose checks are set
            // far apart (a test's) calls nothing it was just given.
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled else { break }
                await sweep()
            }
        }
    }

    /// One round over every service; returns how many were checked (0 when another gateway holds the round).
    @discardableResult
    public func sweep() async -> Int {
        do {
            return try await withDeadline(passDeadline) { try await round() }
        } catch {
            logger.warning("task service health round failed", metadata: ["error": "\(describeDatabaseError(error))"])
            return 0
        }
    }

    /// One round (`sweep` without its deadline).
    func round() async throws -> Int {
        // The round holds a transaction-level lock: released however the round ends.
        try await metadata.withTransaction(logger: logger) { lock in
            guard try await TaskServiceHealthStore(logger: logger).lockRound(on: lock) else { return 0 }
            let targets = try await TaskServiceHealthStore(logger: logger).targets(on: lock)
            let outcomes = await withTaskGroup(of: (TaskServiceHealthStore.Target, String?).self) { group in
                var outcomes: [(TaskServiceHealthStore.Target, String?)] = []
                for (index, target) in targets.enumerated() {
                    if index >= Self.concurrency, let done = await group.next() { outcomes.append(done) }
                    group.addTask { (target, await check(target.url)) }
                }
                for await done in group { outcomes.append(done) }
                return outcomes
            }
            for (target, error) in outcomes {
                try await metadata.withTransaction(logger: logger) { connection in
                    guard
                        let change = try await TaskServiceHealthStore(logger: logger).record(
                            target.id, ok: error == nil, error: error, threshold: failures, on: connection)
                    else { return }
                    var metadata = ["from": change.from, "to": change.to]
                    if let error { metadata["error"] = error }
                    try await AuditStore(logger: logger).append(
                        AuditEvent(
                            org: target.org, actorKind: .system, actorDisplay: "health checker",
                            action: .taskServiceHealth,
                            entityType: "task_service", entityID: target.id.uuidString.lowercased(),
                            metadata: metadata),
                        on: connection)
                }
            }
            return targets.count
        }
    }

    /// nil for a healthy answer, else why not: a short category of ours.
    func check(_ url: String) async -> String? {
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        do {
            let answer = try await OutboundCall(policy: policy).send(
                base: url, timeout: .nanoseconds(nanoseconds), readBody: false)
            if (300..<400).contains(answer.status) { return "redirect (not followed)" }
            return (200..<300).contains(answer.status) ? nil : "HTTP \(answer.status)"
        } catch let failure as OutboundCall.Failure {
            return failure.category
        } catch {
            return OutboundCall.category(of: error)
        }
    }
}
