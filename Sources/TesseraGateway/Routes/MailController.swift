import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// `/v1/mail`: the mail outbox as platform admins see it — status, attempts, errors, never a body.
struct MailController: Controller {
    let client: PostgresClient
    let box: SecretBox
    let baseLogger: Logger

    func listMail(_ input: Operations.listMail.Input) async throws -> Operations.listMail.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let before = try input.query.cursor.map(Self.timeCursor)
        let records = try await client.withConnection { [box, logger] in
            try await MailStore(box: box, logger: logger).list(
                status: input.query.status?.rawValue, before: before, limit: limit + 1, on: $0)
        }
        let (page, next) = Self.page(records, limit: limit) { Self.timeCursor($0.createdAt, $0.id) }
        return .ok(.init(body: .json(.init(items: page.map(Self.schema), next_cursor: next))))
    }

    static func schema(_ m: MailRecord) -> Components.Schemas.MailMessage {
        .init(
            id: id(m.id), kind: m.kind, org_id: m.org.map(id), recipient: m.recipient, subject: m.subject,
            status: .init(rawValue: m.status) ?? .failed, attempts: m.attempts, next_attempt_at: m.nextAttemptAt,
            last_error: m.lastError, created_at: m.createdAt, sent_at: m.sentAt)
    }
}
