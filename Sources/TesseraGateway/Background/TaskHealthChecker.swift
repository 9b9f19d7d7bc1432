import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TesseraCore
import TesseraPostgres

/// Calls every registered task service's health path on an interval (a 2xx answer within the timeout is a
/// success), records `health_status` and `last_health_check`, and marks a service unhealthy after
/// `failures` consecutive failures (healthy again on the next success). A change of status is audited in the
/// org's chain as the system. One gateway checks at a time (an advisory lock), however many run.
public struct TaskHealthChecker: Service {
    let metadata: PostgresClient
    let interval: Duration
    let timeout: Duration
    let failures: Int
    let logger: Logger

    public init(metadata: PostgresClient, interval: Duration, timeout: Duration, failures: Int, logger: Logger) {
        self.metadata = metadata
        self.interval = interval
        self.timeout = timeout
        self.failures = failures
        self.logger = logger
    }

    public func run() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sweep(using: http)
                try? await Task.sleep(for: interval)
            }
        }
        try? await http.shutdown()
    }

    /// One round over every service; returns how many were checked (0 when another gateway holds the round).
    @discardableResult
    public func sweep(using http: HTTPClient) async -> Int {
        do {
            // The round holds a transaction-level lock: released however the round ends.
            return try await metadata.withTransaction(logger: logger) { lock in
                guard try await TaskServiceHealthStore(logger: logger).lockRound(on: lock) else { return 0 }
                let targets = try await TaskServiceHealthStore(logger: logger).targets(on: lock)
                let outcomes = await withTaskGroup(of: (TaskServiceHealthStore.Target, String?).self) { group in
                    for target in targets {
                        group.addTask { (target, await check(target.url, using: http)) }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
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
        } catch {
            logger.warning("task service health round failed", metadata: ["error": "\(describeDatabaseError(error))"])
            return 0
        }
    }

    /// nil for a healthy answer, else why not.
    func check(_ url: String, using http: HTTPClient) async -> String? {
        do {
            let response = try await http.execute(
                HTTPClientRequest(url: url),
                timeout: .nanoseconds(
                    Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
            return (200..<300).contains(response.status.code) ? nil : "HTTP \(response.status.code)"
        } catch let error as HTTPClientError
            where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        {
            return "no answer within \(timeout)"
        } catch {
            return "\(error)".prefix(300).description
        }
    }
}
