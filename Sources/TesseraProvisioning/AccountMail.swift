import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// The mail accounts get — invitations, notices of a new membership — queued in the metadata outbox in the
/// transaction of the change that causes it, with a `mail.queue` record. A token travels only in the mail
/// (sealed in the outbox), never in an API answer.
public struct AccountMailer: Sendable {
    let box: SecretBox
    /// The gateway's address, as the mail names it.
    let publicURL: String

    public init(box: SecretBox, publicURL: String) {
        self.box = box
        self.publicURL = publicURL.withoutTrailingSlash
    }

    /// Queues `mail` and its record, in the caller's transaction.
    func queue(
        _ mail: OutgoingMail, by actor: AuditActor, logger: Logger, on connection: PostgresConnection,
        trail: AuditTrail
    ) async throws {
        try await MailStore(box: box, logger: logger).enqueue(mail, on: connection)
        try await trail.append(
            actor.event(
                org: mail.org, action: .mailQueue, entityType: "mail", entityID: mail.id.uuidString.lowercased(),
                metadata: ["kind": mail.kind, "recipient": mail.recipient]))
    }

    /// One message of a kind to one address per window, however often a request asks for it.
    static let quietWindow: Duration = .seconds(60)

    /// Queues `mail` as `queue` does, unless a message of its kind went to its address within `quietWindow`.
    func queueUnlessRecent(
        _ mail: OutgoingMail, by actor: AuditActor, logger: Logger, on connection: PostgresConnection,
        trail: AuditTrail
    ) async throws {
        let store = MailStore(box: box, logger: logger)
        guard
            try await !store.queuedRecently(
                kind: mail.kind, to: mail.recipient, within: Self.quietWindow, on: connection)
        else { return }
        try await queue(mail, by: actor, logger: logger, on: connection, trail: trail)
    }

    /// The invitation or notice a member added to `org` gets: a user without a password an invitation token
    /// (a new one each time), one with a password a notice (they sign in as before). Queued with its record;
    /// true when it was an invitation.
    @discardableResult
    func queueMembership(
        user: UUID, email: String, org: UUID, roles: [String], by actor: AuditActor, logger: Logger,
        on connection: PostgresConnection, trail: AuditTrail
    ) async throws -> Bool {
        let users = UserStore(logger: logger)
        let orgName = try await OrgStore(logger: logger).get(org, on: connection)?.name ?? "an organization"
        let mail: OutgoingMail
        if try await users.hasPassword(user, on: connection) {
            mail = added(to: email, user: user, org: org, orgName: orgName, roles: roles)
        } else {
            let issued = try await users.issueToken(
                user: user, kind: "invitation", lifetime: .seconds(7 * 24 * 3600), org: org, clientIP: actor.clientIP,
                userAgent: actor.userAgent, on: connection)
            mail = invitation(
                to: email, user: user, org: org, orgName: orgName, token: issued.token, expires: issued.expiresAt)
        }
        try await queue(mail, by: actor, logger: logger, on: connection, trail: trail)
        return mail.kind == "invitation"
    }

    /// An invitation for a user without a password: the token that lets them choose one.
    func invitation(
        to email: String, user: UUID, org: UUID?, orgName: String?, token: SessionToken, expires: Date
    ) -> OutgoingMail {
        let place = orgName.map { "the organization \"\($0)\" on Tessera" } ?? "Tessera"
        let subject = "You are invited to \(orgName.map { "\($0) on " } ?? "")Tessera"
        return OutgoingMail(
            kind: "invitation", org: org, user: user, recipient: email,
            subject: subject,
            body: """
                You have been invited to \(place).

                To accept, choose a password of 12 characters or more and send it with this invitation token:

                  curl -X POST \(publicURL)/v1/auth/invitations/accept \\
                       -H 'Content-Type: application/json' \\
                       -d '{"token":"\(token.plaintext)","password":"<your password>"}'

                Then sign in with POST \(publicURL)/v1/auth/login.

                The token works once and expires \(Self.stamp(expires)). If you did not expect this, ignore
                this message: nothing happens without it.
                """)
    }

    /// A notice to a user who has an account already: they were added to an org and sign in as before.
    func added(to email: String, user: UUID, org: UUID, orgName: String, roles: [String]) -> OutgoingMail {
        OutgoingMail(
            kind: "membership", org: org, user: user, recipient: email,
            subject: "You were added to \(orgName) on Tessera",
            body: """
                You were added to the organization "\(orgName)" on Tessera with the role(s) \
                \(roles.joined(separator: ", ")).

                Sign in as before (POST \(publicURL)/v1/auth/login) to reach it.
                """)
    }

    /// A password-reset token (30 minutes, once).
    func passwordReset(to email: String, user: UUID, token: SessionToken, expires: Date) -> OutgoingMail {
        OutgoingMail(
            kind: "password_reset", org: nil, user: user, recipient: email, subject: "Reset your Tessera password",
            body: """
                Someone (we hope you) asked to reset the password of your Tessera account.

                To choose a new one (12 characters or more), send it with this token within 30 minutes:

                  curl -X POST \(publicURL)/v1/auth/password-reset/confirm \\
                       -H 'Content-Type: application/json' \\
                       -d '{"token":"\(token.plaintext)","password":"<your new password>"}'

                It works once and expires \(Self.stamp(expires)); every session of the account ends when it is
                used. If you did not ask for this, ignore this message: your password stays as it is.
                """)
    }

    /// The answer to a reset request for an address without an account (the requester is told nothing).
    func noAccount(to email: String) -> OutgoingMail {
        OutgoingMail(
            kind: "password_reset", org: nil, user: nil, recipient: email, subject: "Reset your Tessera password",
            body: """
                Someone asked to reset the password of a Tessera account for this address, but there is no
                account for it. If it was you, perhaps you signed up with another address. If it was not, ignore
                this message.
                """)
    }

    /// The token that proves a new account's address (24 hours, once).
    func verification(to email: String, user: UUID, token: SessionToken, expires: Date) -> OutgoingMail {
        OutgoingMail(
            kind: "verification", org: nil, user: user, recipient: email, subject: "Confirm your Tessera address",
            body: """
                Welcome to Tessera. To confirm this address (and be able to create organizations), send this token:

                  curl -X POST \(publicURL)/v1/auth/signup/verify \\
                       -H 'Content-Type: application/json' -d '{"token":"\(token.plaintext)"}'

                It works once and expires \(Self.stamp(expires)). If you did not sign up, ignore this message.
                """)
    }

    /// The answer to a sign-up for an address that has an account (the requester is told nothing).
    func accountExists(to email: String, user: UUID) -> OutgoingMail {
        OutgoingMail(
            kind: "verification", org: nil, user: user, recipient: email, subject: "Your Tessera account",
            body: """
                Someone tried to sign up with this address, but it has a Tessera account already. Sign in
                (POST \(publicURL)/v1/auth/login), or reset the password (POST \(publicURL)/v1/auth/password-reset).
                If it was not you, ignore this message: nothing changed.
                """)
    }

    static func stamp(_ date: Date) -> String {
        date.ISO8601Format(.iso8601.year().month().day().time(includingFractionalSeconds: false)) + " UTC"
    }
}
