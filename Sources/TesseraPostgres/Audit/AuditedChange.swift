import Foundation
import Logging
import PostgresNIO
import Synchronization
import TesseraCore

// One audited change per database. A change and its audit records commit together or not at all, through one
// helper each: `TenantDatabases.change` for an org's database (records go to its outbox, the relay is woken
// after commit) and `PostgresClient.auditedChange` for the metadata database (records go to `audit_logs`).
// Only these helpers stamp a record's org and entity; the events callers hand in are never edited.

/// The audit records of one change in an org's database: written to that database's outbox in the change's
/// transaction, each stamped with the org.
public struct OrgAuditTrail: Sendable {
    public let org: UUID
    let connection: PostgresConnection
    let logger: Logger
    let written: WriteFlag

    /// Writes `event` with this org and, when given, its entity; `job` carries a job's new state to the jobs
    /// mirror (typed, beside the record: the mirror never reads the record's metadata).
    public func write(
        _ event: AuditEvent, entityType: String? = nil, entityID: String? = nil, job: JobMirror.Update? = nil
    ) async throws {
        guard event.action.isTenantAction else {
            // A programming error: the relay would refuse it. Fail the change rather than lose its record.
            assertionFailure("\(event.action.rawValue) is not written to an org's outbox")
            throw TesseraError.internalError
        }
        var stamped = event
        stamped.org = org
        if let entityType { stamped.entityType = entityType }
        if let entityID { stamped.entityID = entityID }
        try await AuditOutbox.write(stamped, job: job, on: connection, logger: logger)
        written.set()
    }

    /// Writes the record of `action` by `actor`.
    public func record(
        _ action: AuditAction, by actor: AuditActor, entityType: String, entityID: UUID,
        metadata: [String: String] = [:], job: JobMirror.Update? = nil
    ) async throws {
        try await write(
            actor.event(
                org: org, action: action, entityType: entityType, entityID: entityID.uuidString.lowercased(),
                metadata: metadata),
            job: job)
    }
}

/// Whether a change wrote any record (shared by reference: the trail is copied into the change's closure).
final class WriteFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}

extension TenantDatabases {
    /// Runs `body` in a transaction on the org's database; the records it writes to `trail` commit with it,
    /// and the audit relay is woken once they have.
    public func change<T: Sendable>(
        org: UUID, logger: Logger, _ body: @escaping @Sendable (PostgresConnection, OrgAuditTrail) async throws -> T
    ) async throws -> T {
        let written = WriteFlag()
        let result = try await withTransaction(org: org, logger: logger) { tx in
            try await body(tx, OrgAuditTrail(org: org, connection: tx, logger: logger, written: written))
        }
        if written.isSet { auditWritten(org) }
        return result
    }

    /// Runs `body` in a transaction on the org's database and writes `event` — stamped with the org, `entityType`
    /// when given, and the entity id `body` returns beside its result — in the same transaction; nil (and
    /// nothing written) when `body` returns nil.
    public func audited<T: Sendable>(
        org: UUID, _ event: AuditEvent, entityType: String? = nil, logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> (T, String)?
    ) async throws -> T? {
        try await change(org: org, logger: logger) { tx, trail -> T? in
            guard let (result, entityID) = try await body(tx) else { return nil }
            try await trail.write(event, entityType: entityType, entityID: entityID)
            return result
        }
    }
}

/// The audit records of one change in the metadata database: kept in order until the change's body has run, then
/// queued in its transaction in one statement, chained there when their chain is free, and otherwise once it has
/// committed (before the change is answered).
public struct AuditTrail: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    /// `bench.skip_audit` (dev profile only): bench/audit's reference run writes no records.
    let skip: Bool
    let records: RecordList

    public func append(_ event: AuditEvent) async throws {
        if skip { return }
        records.append(event)
    }
}

/// The records a change appended (shared by reference: the trail is copied into the change's closure).
final class RecordList: Sendable {
    private let records = Mutex<[AuditEvent]>([])
    func append(_ event: AuditEvent) { records.withLock { $0.append(event) } }
    var all: [AuditEvent] { records.withLock { $0 } }
}

extension PostgresClient {
    /// Runs `body` in a transaction on the metadata database; the records it appends to `trail` are queued in that
    /// transaction by one statement before its COMMIT, which also chains them when no other transaction holds their
    /// chain (then the change commits them chained). A chain that was busy is handed over after the commit to the
    /// running `AuditChainer` of this client (the gateway's), which chains every record waiting in it in one
    /// transaction, and the change is answered at once with its records durable in the queue; with no chainer running
    /// (the command line) the change chains them itself before it returns. A record whose chaining failed stays
    /// queued, durable, for `AuditChainer`'s sweep; the change is answered either way.
    /// A transaction whose connection closed under it is not rolled back by a query that would never answer
    /// (PostgresNIO 1.33.2 never completes a query written to a just-closed channel): the server rolls it back.
    public func auditedChange<T: Sendable>(
        logger: Logger, skipAudit: Bool = false,
        _ body: @escaping @Sendable (PostgresConnection, AuditTrail) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            let records = RecordList()
            _ = try await connection.sql("BEGIN", logger: logger)
            let result: T
            var queued: [UUID?] = []
            do {
                result = try await body(
                    connection, AuditTrail(connection: connection, logger: logger, skip: skipAudit, records: records))
                let events = records.all
                if !events.isEmpty { queued = try await AuditStore(logger: logger).queue(events, on: connection) }
                _ = try await connection.sql("COMMIT", logger: logger)
            } catch {
                if !connection.isClosed {
                    do {
                        try await withDeadline(.seconds(5)) {
                            _ = try await connection.sql("ROLLBACK", logger: logger)
                        }
                    } catch {
                        try? await connection.close()
                    }
                }
                throw error
            }
            if !queued.isEmpty, let chainer = AuditChainer.inbox(for: self) {
                chainer.handOver(queued)
                return result
            }
            for org in queued {
                do {
                    _ = try await withDeadline(.seconds(5)) {
                        try await AuditStore(logger: logger).chainPending(org: org, on: connection)
                    }
                } catch {
                    // A chaining past its deadline may still hold the connection: it does not go back to the pool.
                    if error is DeadlineExceeded { try? await connection.close() }
                    AuditChainer.warnLeftQueued(org, error, logger: logger)
                }
            }
            return result
        }
    }
}
