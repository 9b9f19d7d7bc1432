import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// `/v1/auth`: log in and out with a session token, see who you are, accept an invitation, reset a password.
struct AuthController: MetadataController {
    let client: PostgresClient
    let skipAuditForBenchmark: Bool
    let access: AccessServices
    let mailer: AccountMailer
    let accounts: Settings.Accounts
    let baseLogger: Logger

    var passwordReset: PasswordReset { PasswordReset(metadata: client, mailer: mailer, logger: logger) }
    var selfService: SelfService { SelfService(metadata: client, mailer: mailer, logger: logger) }

    /// A token from the mailbox presented with a new password: the address's limit checked, the password's
    /// strength, the token's form (a malformed one counts as a failed authentication), the password hashed.
    func mailedToken(_ raw: String, newPassword: String) async throws -> (SessionToken, String, RequestInfo) {
        let info = RequestScope.info
        try access.authenticator.checkLimit(info)
        try AccessServices.checkStrength(newPassword)
        guard let token = SessionToken.parse(raw) else {
            throw await access.authenticator.fail(.malformed, info: info, presented: nil)
        }
        return (token, try await access.hash(newPassword), info)
    }

    func signUp(_ input: Operations.signUp.Input) async throws -> Operations.signUp.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        guard accounts.selfService else {
            throw try await denied(
                route: "POST /v1/auth/signup", permission: "self-service", on: client,
                "self-service sign-up is off here (accounts.self_service)")
        }
        try access.authenticator.checkLimit(RequestScope.info)
        _ = try EmailAddress.validated(body.email)
        try AccessServices.checkStrength(body.password)
        let hash = try await access.hash(body.password)
        try await selfService.signUp(
            email: body.email, passwordHash: hash, actor: AuditActor.fromRequest(kind: .user, id: nil, display: nil))
        return .accepted(.init())
    }

    func verifySignUp(_ input: Operations.verifySignUp.Input) async throws -> Operations.verifySignUp.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let info = RequestScope.info
        try access.authenticator.checkLimit(info)
        guard let token = SessionToken.parse(body.token) else {
            throw await access.authenticator.fail(.malformed, info: info, presented: nil)
        }
        guard
            try await selfService.verify(
                token: token, actor: { AuditActor.fromRequest(kind: .user, id: $0, display: nil) })
        else { throw await access.authenticator.fail(.unknown, info: info, presented: nil) }
        return .noContent(.init())
    }

    func requestPasswordReset(_ input: Operations.requestPasswordReset.Input) async throws
        -> Operations.requestPasswordReset.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        try access.authenticator.checkLimit(RequestScope.info)
        try await passwordReset.request(
            email: body.email, actor: AuditActor.fromRequest(kind: .user, id: nil, display: nil))
        return .accepted(.init())
    }

    func confirmPasswordReset(_ input: Operations.confirmPasswordReset.Input) async throws
        -> Operations.confirmPasswordReset.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (token, hash, info) = try await mailedToken(body.token, newPassword: body.password)
        guard
            try await passwordReset.confirm(
                token: token, passwordHash: hash,
                actor: { AuditActor.fromRequest(kind: .user, id: $0, display: nil) })
        else { throw await access.authenticator.fail(.unknown, info: info, presented: nil) }
        return .noContent(.init())
    }

    func login(_ input: Operations.login.Input) async throws -> Operations.login.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let info = RequestScope.info
        let email = UserStore.normalise(email: body.email)
        // Password attempts are limited per address and per account.
        try access.authenticator.checkLimit(info)
        try access.authenticator.checkAccountLimit(email)
        let user = try await client.withConnection {
            try await UserStore(logger: logger).loginUser(email: body.email, on: $0)
        }
        let matches = try await access.verify(body.password, against: user?.passwordHash ?? access.decoyHash)
        guard let user, user.active, user.passwordHash != nil, matches else {
            access.authenticator.recordAccountFailure(email)
            throw await access.authenticator.fail(.wrongPassword, info: info, presented: email)
        }
        let issued = try await change { [logger] connection, trail in
            try await SignIn.issueSession(
                user: user.id, email: user.email, method: "password", lifetime: access.sessionLifetime,
                actor: AuditActor.fromRequest(kind: .user, id: user.id, display: user.email), logger: logger,
                on: connection, trail: trail)
        }
        return .ok(
            .init(
                body: .json(
                    .init(
                        token: issued.token.plaintext, expires_at: issued.expiresAt,
                        user_id: user.id.uuidString.lowercased())))
        )
    }

    func logout(_ input: Operations.logout.Input) async throws -> Operations.logout.Output {
        guard let principal = RequestScope.principal else { throw TesseraError.internalError }
        guard case .user(_, let session) = principal.kind else {
            throw TesseraError.badRequest(
                "logout ends a session; an API key is revoked with DELETE /v1/orgs/{org}/api-keys/{id}")
        }
        try await change { connection, trail in
            _ = try await UserStore(logger: logger).revokeToken(id: session, on: connection)
            try await trail.append(audit(.sessionLogout, org: nil, entityType: "session", entityID: session))
        }
        return .noContent(.init())
    }

    func whoami(_ input: Operations.whoami.Input) async throws -> Operations.whoami.Output {
        guard let principal = RequestScope.principal else { throw TesseraError.internalError }
        let kind: Components.Schemas.Whoami.kindPayload =
            switch principal.kind {
            case .platformAdmin: .platform_admin
            case .apiKey: .api_key
            case .user: .user
            }
        let orgs = principal.grants.sorted { $0.key.uuidString < $1.key.uuidString }.map { org, permissions in
            Components.Schemas.Whoami.orgsPayloadPayload(
                org_id: org.uuidString.lowercased(), permissions: permissions.map(\.rawValue).sorted())
        }
        return .ok(
            .init(
                body: .json(
                    .init(
                        kind: kind, display: principal.display, platform_admin: principal.isPlatformAdmin, orgs: orgs)))
        )
    }

    func acceptInvitation(_ input: Operations.acceptInvitation.Input) async throws -> Operations.acceptInvitation.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (token, hash, info) = try await mailedToken(body.token, newPassword: body.password)
        let accepted = try await change { connection, trail -> Bool in
            let users = UserStore(logger: logger)
            guard let user = try await users.consumeInvitation(digest: token.digest, on: connection) else {
                return false
            }
            try await users.setPassword(user: user, hash: hash, on: connection)
            try await users.markVerified(user, on: connection)  // the token came from the mailbox
            try await trail.append(
                AuditEvent.fromRequest(
                    org: nil, actor: (.user, user, nil), action: .invitationAccept, entityType: "user",
                    entityID: Self.id(user)))
            return true
        }
        guard accepted else { throw await access.authenticator.fail(.unknown, info: info, presented: nil) }
        return .noContent(.init())
    }
}
