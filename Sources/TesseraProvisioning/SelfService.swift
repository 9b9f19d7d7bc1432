import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// Self-service accounts (`accounts.self_service`): sign up with an email and a password, prove the address
/// with a mailed token, then create orgs one owns, at most `accounts.max_orgs_per_user`. An unverified user
/// creates nothing.
public struct SelfService: Sendable {
    let metadata: PostgresClient
    let mailer: AccountMailer
    let logger: Logger

    public static let verificationLifetime: Duration = .seconds(24 * 3600)

    public init(metadata: PostgresClient, mailer: AccountMailer, logger: Logger) {
        self.metadata = metadata
        self.mailer = mailer
        self.logger = logger
    }

    /// A new account (unverified) and its verification mailed; for an address that has an account, a note
    /// to its mailbox instead. The answer is the same either way.
    public func signUp(email rawEmail: String, passwordHash: String, actor: AuditActor) async throws {
        let email = try EmailAddress.validated(rawEmail)
        try await metadata.auditedChange(logger: logger) { [mailer, logger] connection, trail in
            let users = UserStore(logger: logger)
            let (user, created) = try await users.findOrCreate(email: email, passwordHash: passwordHash, on: connection)
            let mail: OutgoingMail
            if created {
                let issued = try await users.issueToken(
                    user: user, kind: "email_verification", lifetime: Self.verificationLifetime,
                    clientIP: actor.clientIP, userAgent: actor.userAgent, on: connection)
                mail = mailer.verification(to: email, user: user, token: issued.token, expires: issued.expiresAt)
            } else {
                mail = mailer.accountExists(to: email, user: user)
            }
            try await trail.append(
                actor.event(
                    org: nil, action: .accountSignup, entityType: "user",
                    entityID: created ? user.uuidString.lowercased() : nil,
                    metadata: ["email": email, "created": String(created)]))
            try await mailer.queueUnlessRecent(
                mail, by: actor, logger: logger, on: connection, trail: trail)
        }
    }

    /// Marks the token's user verified; false for a token that is not a live verification token.
    public func verify(token: SessionToken, actor: @escaping @Sendable (UUID) -> AuditActor) async throws -> Bool {
        try await metadata.auditedChange(logger: logger) { [logger] connection, trail in
            guard
                let user = try await UserStore(logger: logger).consumeVerification(digest: token.digest, on: connection)
            else { return false }
            try await trail.append(
                actor(user).event(
                    org: nil, action: .accountVerify, entityType: "user", entityID: user.uuidString.lowercased()))
            return true
        }
    }
}
