import Foundation
import Logging
import PostgresNIO
import TesseraCore

/// A message to send: who gets it and what it says. Its body is sealed before it is stored.
public struct OutgoingMail: Sendable, Equatable {
    public var id: UUID
    public var kind: String
    public var org: UUID?
    public var user: UUID?
    public var recipient: String
    public var subject: String
    public var body: String

    public init(
        kind: String, org: UUID?, user: UUID?, recipient: String, subject: String, body: String, id: UUID = UUID()
    ) {
        self.id = id
        self.kind = kind
        self.org = org
        self.user = user
        self.recipient = recipient
        self.subject = subject
        self.body = body
    }
}

/// A message in the outbox, as platform admins see it: never its body.
public struct MailRecord: Sendable, Equatable {
    public let id: UUID
    public let kind: String
    public let org: UUID?
    public let recipient: String
    public let subject: String
    public let status: String
    public let attempts: Int
    public let nextAttemptAt: Date
    public let lastError: String?
    public let createdAt: Date
    public let sentAt: Date?
}

/// The mail outbox in the metadata database (`mail_outbox`): messages are queued in the caller's transaction,
/// then claimed, sent and marked by the mail delivery. Bodies are sealed under the master key.
public struct MailStore: Sendable {
    let box: SecretBox
    let logger: Logger

    public init(box: SecretBox, logger: Logger) {
        self.box = box
        self.logger = logger
    }

    /// Queues `mail` in the caller's transaction; it is sent once that commits.
    public func enqueue(_ mail: OutgoingMail, on connection: PostgresConnection) async throws {
        let sealed = ByteBuffer(bytes: try box.seal(mail.body, boundTo: Self.binding(mail.id)))
        try await connection.sql(
            """
            INSERT INTO mail_outbox (id, kind, org_id, user_id, recipient, subject, body_sealed)
            VALUES (\(mail.id), \(mail.kind), \(mail.org), \(mail.user), \(mail.recipient), \(mail.subject), \(sealed))
            """, logger: logger)
    }

    /// Up to `limit` messages due now — pending, or sending under a lease that ran out (a delivery that died
    /// mid-send: sent again, at least once) — leased for `lease` and counted as an attempt.
    public func claim(limit: Int, lease: Duration, on connection: PostgresConnection) async throws -> [(
        OutgoingMail, attempts: Int
    )] {
        let seconds = Double(lease.components.seconds)
        let rows = try await connection.sql(
            """
            UPDATE mail_outbox m SET status = 'sending', attempts = m.attempts + 1,
                lease_until = now() + make_interval(secs => \(seconds))
            FROM (
                SELECT id FROM mail_outbox
                WHERE (status = 'pending' AND next_attempt_at <= now()) OR (status = 'sending' AND lease_until < now())
                ORDER BY next_attempt_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ) due
            WHERE m.id = due.id
            RETURNING m.id, m.kind, m.org_id, m.user_id, m.recipient, m.subject, m.body_sealed, m.attempts
            """, logger: logger
        ).collect()
        return try rows.map { row in
            let (id, kind, org, user, recipient, subject, sealed, attempts) = try row.decode(
                (UUID, String, UUID?, UUID?, String, String, ByteBuffer, Int).self)
            let body = try box.open(Array(buffer: sealed), boundTo: Self.binding(id))
            return (
                OutgoingMail(
                    kind: kind, org: org, user: user, recipient: recipient, subject: subject, body: body, id: id),
                attempts
            )
        }
    }

    public func markSent(_ id: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql(
            """
            UPDATE mail_outbox SET status = 'sent', sent_at = now(), lease_until = NULL, last_error = NULL
            WHERE id = \(id)
            """, logger: logger)
    }

    /// Another try after `retryIn`, or failed for good (`retryIn` nil).
    public func markFailed(_ id: UUID, error: String, retryIn: Duration?, on connection: PostgresConnection)
        async throws
    {
        let seconds = retryIn.map { Double($0.components.seconds) }
        try await connection.sql(
            """
            UPDATE mail_outbox SET lease_until = NULL, last_error = \(String(error.prefix(500))),
                status = CASE WHEN \(seconds)::float8 IS NULL THEN 'failed' ELSE 'pending' END::mail_status,
                next_attempt_at = now() + make_interval(secs => coalesce(\(seconds)::float8, 0))
            WHERE id = \(id)
            """, logger: logger)
    }

    /// Messages newest first, before the (created_at, id) cursor, optionally of one status.
    /// Messages waiting to be sent (pending or being sent), for metrics.
    public func backlog(on connection: PostgresConnection) async throws -> Int {
        try await connection.sql(
            "SELECT count(*)::int FROM mail_outbox WHERE status IN ('pending', 'sending')", logger: logger
        ).collect()[0].decode(Int.self)
    }

    public func list(status: String?, before: (Date, UUID)?, limit: Int, on connection: PostgresConnection)
        async throws -> [MailRecord]
    {
        let (beforeTime, beforeID) = (before?.0, before?.1)
        return try await connection.sql(
            """
            SELECT id, kind, org_id, recipient, subject, status::text, attempts, next_attempt_at, last_error, created_at,
                   sent_at
            FROM mail_outbox
            WHERE (\(status)::text IS NULL OR status::text = \(status)::text)
              AND (\(beforeTime)::timestamptz IS NULL OR (created_at, id) < (\(beforeTime)::timestamptz, \(beforeID)::uuid))
            ORDER BY created_at DESC, id DESC LIMIT \(limit)
            """, logger: logger
        ).collect().map { row in
            let c = row.makeRandomAccess()
            return MailRecord(
                id: try c[0].decode(UUID.self), kind: try c[1].decode(String.self), org: try c[2].decode(UUID?.self),
                recipient: try c[3].decode(String.self), subject: try c[4].decode(String.self),
                status: try c[5].decode(String.self), attempts: try c[6].decode(Int.self),
                nextAttemptAt: try c[7].decode(Date.self), lastError: try c[8].decode(String?.self),
                createdAt: try c[9].decode(Date.self), sentAt: try c[10].decode(Date?.self))
        }
    }

    /// Whether a message of `kind` to `recipient` was queued within `window` (so a flood of requests sends one).
    public func queuedRecently(
        kind: String, to recipient: String, within window: Duration, on connection: PostgresConnection
    )
        async throws -> Bool
    {
        let seconds = Double(window.components.seconds)
        return try await connection.sql(
            """
            SELECT EXISTS (SELECT 1 FROM mail_outbox WHERE recipient = \(recipient) AND kind = \(kind)
                           AND created_at > now() - make_interval(secs => \(seconds)))
            """, logger: logger
        ).collect()[0].decode(Bool.self)
    }

    static func binding(_ id: UUID) -> String { "tessera-mail:\(id.uuidString.lowercased())" }
}
