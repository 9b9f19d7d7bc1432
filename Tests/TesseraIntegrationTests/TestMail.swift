import Foundation
import PostgresNIO
import TesseraMail
import TesseraPostgres
import Testing

@testable import TesseraCore

/// The mailbox of a test: what the outbox holds, delivered by the real mail delivery through the file
/// transport into `<data dir>/mail`, read back as the person it was sent to would.
enum TestMail {
    /// Delivers every message due now; how many were sent.
    @discardableResult
    static func deliver(_ settings: Settings) async throws -> Int {
        let client = PostgresClient(
            configuration: settings.database.clientConfiguration(as: .gateway), backgroundLogger: TestDatabase.logger)
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        let delivery = MailDelivery(
            metadata: client, box: try TestDatabase.box(settings),
            transport: FileTransport(directory: folder(settings)),
            sender: settings.mail.from, maxAttempts: 3, retryBase: .seconds(1), logger: TestDatabase.logger)
        return await delivery.deliverDue()
    }

    static func folder(_ settings: Settings) -> String { "\(settings.paths.dataDir)/mail" }

    /// The messages delivered to `email`, oldest first, once nothing due is left undelivered (a running
    /// gateway's own delivery may hold a message mid-send: it is waited for).
    static func messages(to email: String, _ settings: Settings) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            try await deliver(settings)
            let inFlight = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                try await $0.query(
                    """
                    SELECT count(*)::int FROM mail_outbox
                    WHERE status = 'sending' OR (status = 'pending' AND next_attempt_at <= now())
                    """, logger: TestDatabase.logger
                ).collect()[0].decode(Int.self)
            }
            if inFlight == 0 || ContinuousClock.now > deadline { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let folder = folder(settings)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return try names.filter { $0.hasSuffix(".eml") }.sorted().map {
            try String(contentsOfFile: "\(folder)/\($0)", encoding: .utf8)
        }.filter { $0.contains("\r\nTo: <\(email.lowercased())>\r\n") }
    }

    /// The token of the newest invitation mailed to `email`.
    static func invitationToken(for email: String, _ settings: Settings) async throws -> String {
        let invitations = try await messages(to: email, settings).filter { $0.contains("X-Tessera-Kind: invitation") }
        let newest = try #require(invitations.last, "no invitation was mailed to \(email)")
        return try #require(tokens(in: newest).first, "the invitation carries no token")
    }

    /// The session-format tokens (`tss_` and 43 base62 characters) in a text.
    static func tokens(in text: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: "tss_[0-9A-Za-z]{43}")
        return pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
            Range($0.range, in: text).map { String(text[$0]) }
        }
    }
}
