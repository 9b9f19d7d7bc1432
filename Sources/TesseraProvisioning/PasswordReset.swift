import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Password reset (the `password_reset` tokens): a request is answered alike whether or not the address has an
/// account (the mailbox learns which, the requester never does); the token goes by mail, lives 30 minutes and
/// works once; confirming sets the password and ends every session of the user.
public struct PasswordReset: Sendable {
    let metadata: PostgresClient
    let mailer: AccountMailer
    let logger: Logger

    public static let lifetime: Duration = .seconds(30 * 60)

    public init(metadata: PostgresClient, mailer: AccountMailer, logger: Logger) {
        self.metadata = metadata
        self.mailer = mailer
        self.logger = logger
    }

    /// Mails a reset token to the address's account, or a note that it has none; the same work either way
    /// (one look-up, one message queued, one record), and nothing in the outcome tells which.
    public func request(email rawEmail: String, actor: AuditActor) async throws {
        guard let email = try? EmailAddress.validated(rawEmail) else { return }
        try await metadata.auditedChange(logger: logger) { [mailer, logger] connection, trail in
            let users = UserStore(logger: logger)
            let user = try await users.loginUser(email: email, on: connection)
            let account = user.flatMap { $0.active ? $0.id : nil }
            let mail: OutgoingMail
            if let account {
                let issued = try await users.issueToken(
                    user: account, kind: "password_reset", lifetime: Self.lifetime, clientIP: actor.clientIP,
                    userAgent: actor.userAgent, on: connection)
                mail = mailer.passwordReset(to: email, user: account, token: issued.token, expires: issued.expiresAt)
            } else {
                mail = mailer.noAccount(to: email)
            }
            try await trail.append(
                actor.event(
                    org: nil, action: .passwordResetRequest, entityType: "user",
                    entityID: account?.uuidString.lowercased(), metadata: ["email": email]))
            try await mailer.queueUnlessRecent(
                mail, by: actor, logger: logger, on: connection, trail: trail)
        }
    }

    /// Sets the password of the token's user and ends all their sessions; false for a token that is not a
    /// live reset token.
    public func confirm(token: SessionToken, passwordHash: String, actor: @escaping @Sendable (UUID) -> AuditActor)
        async throws -> Bool
    {
        try await metadata.auditedChange(logger: logger) { [logger] connection, trail in
            let users = UserStore(logger: logger)
            guard let user = try await users.consumePasswordReset(digest: token.digest, on: connection) else {
                return false
            }
            try await users.setPassword(user: user, hash: passwordHash, on: connection)
            try await users.markVerified(user, on: connection)  // the token came from the mailbox
            let ended = try await users.revokeSessions(of: user, on: connection)
            try await trail.append(
                actor(user).event(
                    org: nil, action: .passwordResetComplete, entityType: "user",
                    entityID: user.uuidString.lowercased(),
                    metadata: ["sessions_ended": String(ended)]))
            return true
        }
    }
}
