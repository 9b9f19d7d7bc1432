import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// Audit events of changes in an org's own database: written into that database's `audit_outbox` in the
/// change's transaction, then moved to `audit_logs` by the relay (by event id, so a second delivery is a no-op).
/// The org's role may only add rows; the relay remembers how far it has read (`Position`) in the metadata
/// database, never by writing to the outbox.
public enum AuditOutbox {
    /// A row's place in reading order: the transaction that inserted it (an xid8, as a number), then its seq.
    public struct Position: Sendable, Equatable {
        public let txid: Int64
        public let seq: Int64

        public init(txid: Int64, seq: Int64) {
            self.txid = txid
            self.seq = seq
        }
    }

    /// Writes `event` (and the job state it carries to the jobs mirror) into the outbox of the database
    /// `connection` is in, in the caller's transaction. Changes write through `OrgAuditTrail`.
    static func write(
        _ event: AuditEvent, job: JobMirror.Update?, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let json = try JSONText.encode(OutboxEvent(event, job: job))
        try await connection.sql(
            "INSERT INTO audit_outbox (event_id, event) VALUES (\(event.eventID), \(json)::jsonb)", logger: logger)
    }

    /// What the relay found in an outbox row.
    public enum Pending: Sendable {
        /// A record to append (stamped with the org whose database it came from), with the job state it carries.
        case event(AuditEvent, JobMirror.Update?)
        /// A row the relay does not believe: not a record, or an action an org's database never writes.
        case rejected(eventID: UUID, claimedAction: String, reason: String)

        public var eventID: UUID {
            switch self {
            case .event(let event, _): event.eventID
            case .rejected(let id, _, _): id
            }
        }
    }

    /// The first transaction id that may still add rows: the oldest transaction of this database running now, or,
    /// with none, the next id to be handed out. Read before the rows (in a statement of its own, so the rows'
    /// snapshot is taken after): every transaction below it has ended, so rows below it are all there is.
    /// `pg_stat_activity` gives 32-bit ids; they are widened with the epoch of the next id.
    static func readableBound(on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try await connection.sql(
            """
            WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::int8 AS next),
                 running AS (
                     SELECT (s.next / 4294967296) * 4294967296 + a.backend_xid::text::int8 AS full_xid, s.next
                     FROM s JOIN pg_stat_activity a ON a.datname = current_database() AND a.backend_xid IS NOT NULL)
            SELECT least((SELECT next FROM s),
                         (SELECT min(CASE WHEN full_xid > next THEN full_xid - 4294967296 ELSE full_xid END) FROM running))
            """, logger: logger
        ).collect()[0].decode(Int64.self)
    }

    /// Up to `limit` rows after `position` (all when nil), in reading order, only of transactions that have ended,
    /// the position of the last, and whether committed rows wait behind a transaction still running (`heldBack`:
    /// read again soon). An org's database is not trusted to say which org it is (every record takes `org`) nor
    /// to write any action but a tenant one (`AuditAction.isTenantAction`).
    public static func pending(
        org: UUID, after position: Position?, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> (events: [Pending], last: Position?, heldBack: Bool) {
        let bound = try await readableBound(on: connection, logger: logger)
        let after = position ?? Position(txid: 0, seq: 0)
        let rows = try await connection.sql(
            """
            SELECT event_id, event::text, txid::text::int8, seq FROM audit_outbox
            WHERE delivered_at IS NULL AND txid < \(bound)::text::xid8
              AND (txid, seq) > (\(after.txid)::text::xid8, \(after.seq))
            ORDER BY txid, seq LIMIT \(limit)
            """,
            logger: logger)
        var pending: [Pending] = []
        var last: Position?
        for try await (id, text, txid, seq) in rows.decode((UUID, String, Int64, Int64).self) {
            last = Position(txid: txid, seq: seq)
            guard let stored = try? JSONDecoder().decode(OutboxEvent.self, from: Data(text.utf8)),
                stored.event_id == id, var event = try? stored.event()
            else {
                pending.append(.rejected(eventID: id, claimedAction: "", reason: "not an audit record"))
                continue
            }
            guard event.action.isTenantAction else {
                pending.append(
                    .rejected(
                        eventID: id, claimedAction: event.action.rawValue,
                        reason: "an action an org's database does not write"))
                continue
            }
            if event.org != org {
                logger.warning(
                    "an outbox record named another org; relayed as its database's org",
                    metadata: ["org": "\(org)", "claimed_org": "\(event.org.map { "\($0)" } ?? "none")"])
            }
            event.org = org
            pending.append(.event(event, stored.job))
        }
        var heldBack = false
        if pending.count < limit {
            heldBack = try await connection.sql(
                """
                SELECT EXISTS (SELECT 1 FROM audit_outbox WHERE delivered_at IS NULL AND txid >= \(bound)::text::xid8
                               AND (txid, seq) > (\(after.txid)::text::xid8, \(after.seq)))
                """, logger: logger
            ).collect()[0].decode(Bool.self)
        }
        return (pending, last, heldBack)
    }

    /// How far the relay has read the org's outbox (metadata database).
    public static func position(org: UUID, on connection: PostgresConnection, logger: Logger) async throws
        -> Position?
    {
        let row = try await connection.sql(
            "SELECT outbox_txid, outbox_seq FROM org_databases WHERE org_id = \(org)", logger: logger
        ).collect().first
        guard let (txid, seq) = try row?.decode((Int64?, Int64?).self), let txid, let seq else { return nil }
        return Position(txid: txid, seq: seq)
    }

    /// Records how far the relay has read, in the transaction that appended what it read.
    public static func advance(org: UUID, to position: Position, on connection: PostgresConnection, logger: Logger)
        async throws
    {
        try await connection.sql(
            "UPDATE org_databases SET outbox_txid = \(position.txid), outbox_seq = \(position.seq) WHERE org_id = \(org)",
            logger: logger)
    }
}

extension AuditOutbox {
    /// An org whose outbox holds rows the relay has delivered and nobody has deleted: its database, and the relay's
    /// position (every row up to it is in `audit_logs`).
    public struct TrimTarget: Sendable {
        public let org: UUID
        public let serverID: UUID
        public let database: String
        public let delivered: Position
    }

    /// Ready orgs whose relay position moved past what was last trimmed, at most `limit` (metadata database).
    public static func trimTargets(limit: Int, on connection: PostgresConnection, logger: Logger) async throws
        -> [TrimTarget]
    {
        let rows = try await connection.sql(
            """
            SELECT d.org_id, d.server_id, d.database_name, d.outbox_txid, d.outbox_seq
            FROM org_databases d JOIN organizations o ON o.id = d.org_id
            WHERE o.status = 'ready' AND d.outbox_txid IS NOT NULL
              AND (d.outbox_trimmed_txid IS NULL
                   OR (d.outbox_txid, d.outbox_seq) > (d.outbox_trimmed_txid, d.outbox_trimmed_seq))
            ORDER BY d.org_id LIMIT \(limit)
            """, logger: logger)
        var targets: [TrimTarget] = []
        for try await (org, server, database, txid, seq) in rows.decode((UUID, UUID, String, Int64, Int64).self) {
            targets.append(
                TrimTarget(org: org, serverID: server, database: database, delivered: Position(txid: txid, seq: seq)))
        }
        return targets
    }

    /// Deletes the rows up to `position` from an org's outbox, on a connection to the org's database that may (its
    /// server's admin login); answers how many. Only rows the relay has delivered: it reads in (txid, seq) order
    /// and only below the oldest transaction still running, so nothing at or before its position is still to come.
    public static func trim(upTo position: Position, on connection: PostgresConnection, logger: Logger) async throws
        -> Int
    {
        try await connection.sql(
            """
            WITH gone AS (
                DELETE FROM audit_outbox WHERE (txid, seq) <= (\(position.txid)::text::xid8, \(position.seq)) RETURNING 1
            )
            SELECT count(*)::int FROM gone
            """, logger: logger
        ).collect()[0].decode(Int.self)
    }

    /// Records that the org's outbox was emptied up to `position` (never moving the mark back).
    public static func trimmed(org: UUID, to position: Position, on connection: PostgresConnection, logger: Logger)
        async throws
    {
        try await connection.sql(
            """
            UPDATE org_databases SET outbox_trimmed_txid = \(position.txid), outbox_trimmed_seq = \(position.seq)
            WHERE org_id = \(org)
              AND (outbox_trimmed_txid IS NULL OR (outbox_trimmed_txid, outbox_trimmed_seq) < (\(position.txid), \(position.seq)))
            """, logger: logger)
    }
}

/// The outbox's JSON form of an event.
struct OutboxEvent: Codable {
    var event_id: UUID
    var org_id: UUID?
    var actor_kind: String
    var actor_id: UUID?
    var actor_display: String?
    var action: String
    var entity_type: String?
    var entity_id: String?
    var outcome: String
    var request_id: String?
    var client_ip: String?
    var user_agent: String?
    var metadata: [String: String]
    /// For the jobs mirror, not the audit log.
    var job: JobMirror.Update?

    init(_ e: AuditEvent, job: JobMirror.Update?) {
        self.job = job
        event_id = e.eventID
        org_id = e.org
        actor_kind = e.actorKind.rawValue
        actor_id = e.actorID
        actor_display = e.actorDisplay
        action = e.action.rawValue
        entity_type = e.entityType
        entity_id = e.entityID
        outcome = e.outcome.rawValue
        request_id = e.requestID
        client_ip = e.clientIP
        user_agent = e.userAgent
        metadata = e.metadata
    }

    func event() throws -> AuditEvent {
        do {
            guard let kind = ActorKind(rawValue: actor_kind), let action = AuditAction(rawValue: action),
                let outcome = AuditOutcome(rawValue: outcome)
            else { throw TesseraError.internalError }
            return AuditEvent(
                org: org_id, actorKind: kind, actorID: actor_id, actorDisplay: actor_display, action: action,
                entityType: entity_type,
                entityID: entity_id, outcome: outcome, requestID: request_id, clientIP: client_ip,
                userAgent: user_agent,
                metadata: metadata, eventID: event_id)
        }
    }
}
