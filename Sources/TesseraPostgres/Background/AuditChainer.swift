import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TesseraCore

/// Chains audit records that a change queued and nobody chained: its process stopped, or lost its connection,
/// between the change's commit and the chaining that follows it (`PostgresClient.auditedChange`). Looks every
/// `interval` for records queued longer than `age`; finds none in the ordinary course.
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

    public func run() async throws {
        await everyInterval(interval) {
            do {
                try await withDeadline(.seconds(15)) { try await sweep() }
            } catch {
                logger.warning("audit chainer could not sweep", metadata: ["error": "\(describeDatabaseError(error))"])
            }
        }
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
