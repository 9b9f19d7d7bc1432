import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// `/v1/orgs/{org}/identity-providers` and `/v1/auth/oidc`: an org's OpenID Connect providers and signing in
/// with them (the rules are `OIDCSignIn`'s). A refused sign-in is an authentication failure like a wrong
/// password: counted against the address and recorded as `auth.failed` with its reason.
struct IdentityProvidersController: Controller {
    let client: PostgresClient
    let box: SecretBox
    let oidc: OIDCClient
    let publicURL: String
    let access: AccessServices
    let baseLogger: Logger

    var signIn: OIDCSignIn {
        OIDCSignIn(metadata: client, box: box, client: oidc, publicURL: publicURL, logger: logger)
    }

    func createIdentityProvider(_ input: Operations.createIdentityProvider.Input) async throws
        -> Operations.createIdentityProvider.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let (tenant, principal) = try current()
        let record = try await signIn.register(
            org: tenant.orgID, name: body.name, issuer: body.issuer, clientID: body.client_id,
            clientSecret: body.client_secret, allowedDomains: body.allowed_domains, role: body.role,
            by: .principal(principal), actor: auditActor())
        return .created(.init(body: .json(schema(record))))
    }

    func listIdentityProviders(_ input: Operations.listIdentityProviders.Input) async throws
        -> Operations.listIdentityProviders.Output
    {
        let (tenant, _) = try current()
        return .ok(.init(body: .json(.init(items: try await signIn.providers(org: tenant.orgID).map(schema)))))
    }

    func deleteIdentityProvider(_ input: Operations.deleteIdentityProvider.Input) async throws
        -> Operations.deleteIdentityProvider.Output
    {
        let (tenant, _) = try current()
        try await signIn.remove(org: tenant.orgID, id: try Self.objectID(input.path.id), actor: auditActor())
        return .noContent(.init())
    }

    func startOIDCSignIn(_ input: Operations.startOIDCSignIn.Input) async throws -> Operations.startOIDCSignIn.Output {
        let started = try await start(input.path.provider, returnTo: .api)
        return .found(
            .init(
                headers: .init(Location: started.authorizationURL, Set_hyphen_Cookie: cookie(started.cookie)),
                body: .json(.init(authorization_url: started.authorizationURL))))
    }

    /// Starts a sign-in with `provider` that comes back to `returnTo`'s callback (the API's or the web console's),
    /// for a client the failure limit has not stopped.
    func start(_ provider: String, returnTo: OIDCSignIn.Return) async throws -> OIDCSignIn.Started {
        try access.authenticator.checkLimit(RequestScope.info)
        return try await signIn.start(provider: try Self.objectID(provider), returnTo: returnTo)
    }

    func linkOIDCIdentity(_ input: Operations.linkOIDCIdentity.Input) async throws -> Operations.linkOIDCIdentity.Output
    {
        guard let principal = RequestScope.principal, case .user(let user, _) = principal.kind else {
            throw TesseraError.badRequest(
                "an identity is linked to a user's account: sign in with a session, not a key")
        }
        let started = try await signIn.start(provider: try Self.objectID(input.path.provider), linking: user)
        return .ok(
            .init(
                headers: .init(Set_hyphen_Cookie: cookie(started.cookie)),
                body: .json(.init(authorization_url: started.authorizationURL))))
    }

    static let cookieName = "tessera_oidc"

    /// The sign-in's cookie: sent back only to the callback's path (`path`: the API's, or the console's), never
    /// readable by scripts, sent on the provider's redirect (a top-level navigation: Lax, not Strict), Secure when
    /// the public address is https. `maxAge` 0 removes it.
    func cookie(_ value: String, path: String = "/v1/auth/oidc", maxAge: Int? = nil) -> String {
        let secure = signIn.publicURL.lowercased().hasPrefix("https://") ? "; Secure" : ""
        let age = maxAge ?? Int(OIDCSignIn.loginLifetime.components.seconds)
        return "\(Self.cookieName)=\(value); Path=\(path); Max-Age=\(age); HttpOnly; SameSite=Lax\(secure)"
    }

    func finishOIDCSignIn(_ input: Operations.finishOIDCSignIn.Input) async throws
        -> Operations.finishOIDCSignIn.Output
    {
        let signedIn = try await finish(
            code: input.query.code, state: input.query.state, error: input.query.error,
            cookie: CookieHeader.value(Self.cookieName, in: input.headers.Cookie.map { [$0] } ?? []), at: .api)
        return .ok(
            .init(
                body: .json(
                    .init(
                        token: signedIn.session.token.plaintext, expires_at: signedIn.session.expiresAt,
                        user_id: Self.id(signedIn.user)))))
    }

    /// Finishes a sign-in that came back to `callback` (the API's or the console's) with the provider's `code` or
    /// its `error`, in the browser whose `cookie` holds it: a session, or a refusal counted against the client and
    /// recorded as `auth.failed` like a wrong password.
    func finish(code: String?, state: String, error: String?, cookie: String?, at callback: OIDCSignIn.Return)
        async throws -> OIDCSignIn.SignedIn
    {
        let info = RequestScope.info
        try access.authenticator.checkLimit(info)
        do {
            if let error {
                // The provider's error code (RFC 6749 §4.1.2.1) is short and ours to name; anything else is not.
                let code = error.utf8.count <= 40 && error.allSatisfy { $0.isASCII && ($0.isLetter || $0 == "_") }
                throw OIDCRefusal(
                    kind: .unauthenticated, reason: "the provider answered \(code ? error : "an error")")
            }
            return try await signIn.finish(
                code: code ?? "", state: state, cookie: cookie, at: callback,
                sessionLifetime: access.sessionLifetime,
                actor: AuditActor.fromRequest(kind: .user, id: nil, display: nil))
        } catch let refusal as OIDCRefusal {
            throw await access.authenticator.failSignIn(refusal, info: info)
        }
    }

    func schema(_ p: IdentityProviderRecord) -> Components.Schemas.IdentityProvider {
        let signIn = self.signIn
        return .init(
            id: Self.id(p.id), org_id: Self.id(p.org), name: p.name, issuer: p.issuer, client_id: p.clientID,
            allowed_domains: p.allowedDomains, role: p.role, enabled: p.enabled, created_at: p.createdAt,
            sign_in_url: signIn.signInURL(p.id), redirect_uri: signIn.redirectURI,
            console_sign_in_url: signIn.consoleSignInURL(p.id), console_redirect_uri: signIn.consoleRedirectURI)
    }
}
