import Crypto
import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

/// A sign-in with an identity provider refused: the reason is one of our own categories, safe to answer and
/// to record (the controller records it as an authentication failure).
public struct OIDCRefusal: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// 401: the state, the code or the ID token did not hold.
        case unauthenticated
        /// 403: a valid identity this provider does not admit (its email's domain, an unverified email).
        case notAdmitted
        /// 409: the email belongs to an account this identity is not linked to.
        case unlinkedAccount
    }

    public let kind: Kind
    public let reason: String

    public init(kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }
}

/// OpenID Connect sign-in for an org's members: providers registered by the org (the client secret sealed like
/// org database passwords), the authorization-code flow with PKCE, `state` and `nonce`, the ID token checked
/// against the issuer's keys, and identities linked to users by issuer and subject, never by email alone. A
/// person new to Tessera whose verified email is in an allowed domain becomes a member with the provider's role;
/// an email that already has an account is linked only from that account (`link`), never taken over.
public struct OIDCSignIn: Sendable {
    let metadata: PostgresClient
    let box: SecretBox
    let client: OIDCClient
    /// The gateway's public address, without a trailing slash.
    public let publicURL: String
    /// The gateway's callback, as registered with the provider: `<public url>/v1/auth/oidc/callback`.
    public var redirectURI: String { publicURL + "/v1/auth/oidc/callback" }
    /// The web console's callback: a sign-in started from the console comes back there, to end in its cookie.
    public var consoleRedirectURI: String { publicURL + "/console/login/oidc/callback" }

    /// Where a sign-in comes back to: the API's callback (a JSON session) or the console's (a session cookie).
    public enum Return: String, Codable, Sendable {
        case api, console
    }

    func redirectURI(_ to: Return) -> String { to == .console ? consoleRedirectURI : redirectURI }
    let logger: Logger

    /// How long a started sign-in may take to come back.
    public static let loginLifetime: Duration = .seconds(600)

    public init(metadata: PostgresClient, box: SecretBox, client: OIDCClient, publicURL: String, logger: Logger) {
        self.metadata = metadata
        self.box = box
        self.client = client
        self.publicURL = publicURL.withoutTrailingSlash
        self.logger = logger
    }

    // MARK: providers

    /// Registers a provider after fetching its discovery document (so a typo is a 422 now, not a failed sign-in
    /// later). `role` must be one the registrant could grant.
    public func register(
        org: UUID, name: String, issuer: String, clientID: String, clientSecret: String, allowedDomains: [String],
        role: String, by grantor: Grantor, actor: AuditActor
    ) async throws -> IdentityProviderRecord {
        var problems: [String] = []
        if name.isEmpty || name.count > 64 { problems.append("name: 1 to 64 characters") }
        if clientID.isEmpty || clientID.utf8.count > 255 { problems.append("client_id: 1 to 255 bytes") }
        if clientSecret.isEmpty || clientSecret.utf8.count > 1024 { problems.append("client_secret: 1 to 1024 bytes") }
        let domains = Set(allowedDomains.map { $0.lowercased() }).sorted()
        if domains.isEmpty || domains.count > 50 { problems.append("allowed_domains: 1 to 50 domains") }
        for domain in domains where !Self.isDomain(domain) {
            problems.append("allowed_domains: '\(domain)' is no domain")
        }
        do { try client.checkIssuer(issuer) } catch { problems.append("issuer: \(error.reason)") }
        guard problems.isEmpty else { throw TesseraError.invalid(problems) }
        do {
            _ = try await client.discover(issuer, fresh: true)
        } catch {
            throw TesseraError.unprocessable("issuer: \(error.reason)")
        }
        let id = UUID()
        let sealed = try box.seal(clientSecret, boundTo: IdentityProviderRecord.secretLabel(id))
        return try await metadata.auditedChange(logger: logger) { [logger] connection, trail in
            try await MemberStore(logger: logger).lockOrg(org, on: connection)
            _ = try await Membership.grantableRoles(
                named: [role], org: org, by: grantor, on: connection, logger: logger)
            guard
                let record = try await IdentityStore(logger: logger).create(
                    id: id, org: org, name: name, issuer: issuer, clientID: clientID, secretSealed: sealed,
                    allowedDomains: domains, role: role, on: connection)
            else { throw TesseraError.conflict("the org has a provider named '\(name)'") }
            try await trail.append(
                actor.event(
                    org: org, action: .identityProviderCreate, entityType: "identity_provider",
                    entityID: Self.id(id),
                    metadata: [
                        "name": name, "issuer": issuer, "client_id": clientID,
                        "allowed_domains": domains.joined(separator: ","), "role": role,
                    ]))
            return record
        }
    }

    /// Where members start signing in with `provider` (a GET that redirects to it).
    public func signInURL(_ provider: UUID) -> String { "\(publicURL)/v1/auth/oidc/\(Self.id(provider))/start" }

    /// Where members start signing in to the web console with `provider`.
    public func consoleSignInURL(_ provider: UUID) -> String {
        "\(publicURL)/console/login/oidc/\(Self.id(provider))/start"
    }

    public func providers(org: UUID) async throws -> [IdentityProviderRecord] {
        try await metadata.withConnection { [logger] in
            try await IdentityStore(logger: logger).providers(org: org, on: $0)
        }
    }

    /// The enabled providers of the ready org with `slug` (the console's sign-in page asks by slug); none for an
    /// org that does not exist, so the answer tells no more than that no one can sign in there with a provider.
    public func providers(orgSlug slug: String) async throws -> [IdentityProviderRecord] {
        guard slug.utf8.count <= 200 else { return [] }
        return try await metadata.withConnection { [logger] in
            try await IdentityStore(logger: logger).providers(orgSlug: slug, on: $0)
        }.filter(\.enabled)
    }

    /// Removes a provider; its identities go with it (their users keep their accounts and memberships).
    public func remove(org: UUID, id: UUID, actor: AuditActor) async throws {
        try await metadata.auditedChange(logger: logger) { [logger] connection, trail in
            guard try await IdentityStore(logger: logger).delete(org: org, id: id, on: connection) else {
                throw TesseraError.notFound("no such identity provider")
            }
            try await trail.append(
                actor.event(
                    org: org, action: .identityProviderDelete, entityType: "identity_provider", entityID: Self.id(id)))
        }
    }

    // MARK: signing in

    /// A sign-in in flight, sealed into the cookie of the browser that started it: only that browser can finish
    /// it, and nothing is written until it comes back.
    struct InFlight: Codable {
        /// SHA-256 of the state the provider sends back, base64url.
        let state: String
        let provider: UUID
        let nonce: String
        let verifier: String
        let link: UUID?
        /// Seconds since 1970.
        let expires: Double
        /// The callback it returns to (absent in sign-ins started before the console had one: the API's).
        let returnTo: Return?
    }

    static let cookieLabel = "oidc-sign-in"

    /// What `start` gives back: where to send the browser, and the cookie to set in it.
    public struct Started: Sendable {
        public let authorizationURL: String
        /// The sealed sign-in (base64url), for the `tessera_oidc` cookie.
        public let cookie: String
    }

    /// Starts a sign-in: a one-use `state`, a `nonce` and a PKCE verifier, sealed under the master key into a
    /// cookie for the browser; the provider's authorization URL carries the state, the nonce and the verifier's
    /// challenge. `linking` is the signed-in user who asks to link this provider's identity to their account;
    /// `returnTo` the callback the provider sends the browser back to.
    public func start(provider id: UUID, linking user: UUID? = nil, returnTo: Return = .api) async throws -> Started {
        guard
            let provider = try await metadata.withConnection({ [logger] in
                try await IdentityStore(logger: logger).provider(id: id, on: $0)
            }),
            provider.enabled
        else { throw TesseraError.notFound("no such identity provider") }
        let discovery: OIDCDiscovery
        do { discovery = try await client.discover(provider.issuer) } catch {
            throw TesseraError.unavailable("the identity provider cannot be reached now: \(error.reason)")
        }
        let state = Base64URL.random(bytes: 32)
        let nonce = Base64URL.random(bytes: 32)
        let pkce = PKCE.generate()
        let inFlight = InFlight(
            state: Base64URL.encode(Self.digest(state)), provider: id, nonce: nonce, verifier: pkce.verifier,
            link: user,
            expires: Date().addingTimeInterval(Double(Self.loginLifetime.components.seconds))
                .timeIntervalSince1970, returnTo: returnTo)
        let sealed = try box.seal(
            String(decoding: try JSONEncoder().encode(inFlight), as: UTF8.self), boundTo: Self.cookieLabel)
        let url = OIDCClient.url(
            discovery.authorization_endpoint,
            adding: [
                ("response_type", "code"), ("client_id", provider.clientID), ("redirect_uri", redirectURI(returnTo)),
                ("scope", "openid email profile"), ("state", state), ("nonce", nonce),
                ("code_challenge", pkce.challenge), ("code_challenge_method", "S256"),
            ])
        return Started(authorizationURL: url, cookie: Base64URL.encode(sealed))
    }

    /// A session from a sign-in that came back.
    public struct SignedIn: Sendable {
        public let user: UUID
        public let email: String
        public let session: (id: UUID, token: SessionToken, expiresAt: Date)
        /// The user was created by this sign-in (and joined the org with the provider's role).
        public let joined: Bool
    }

    /// Finishes a sign-in in the browser that started it (`cookie`): the state must be the cookie's, unexpired
    /// and unspent, and is spent before anything else (a replay finds it spent); the code is exchanged with the
    /// verifier, the ID token checked, and the identity found by provider and subject — or, for a person new to
    /// Tessera, a user created and made a member. `at` is the callback that was called: a sign-in finishes only
    /// where it was started for. Throws `OIDCRefusal` for what the caller did wrong.
    public func finish(
        code: String, state: String, cookie: String?, at callback: Return = .api, sessionLifetime: Duration,
        actor: AuditActor
    ) async throws -> SignedIn {
        guard state.utf8.count == 43, Base64URL.decode(state) != nil, !code.isEmpty, code.utf8.count <= 2048 else {
            throw OIDCRefusal(kind: .unauthenticated, reason: "malformed state or code")
        }
        guard let cookie, let sealed = Base64URL.decode(cookie), sealed.count <= 4096,
            let json = try? box.open(sealed, boundTo: Self.cookieLabel),
            let pending = try? JSONDecoder().decode(InFlight.self, from: Data(json.utf8))
        else { throw OIDCRefusal(kind: .unauthenticated, reason: "no sign-in was started in this browser") }
        let stateDigest = Self.digest(state)
        guard Base64URL.encode(stateDigest) == pending.state else {
            throw OIDCRefusal(kind: .unauthenticated, reason: "the state is not this browser's sign-in")
        }
        guard (pending.returnTo ?? .api) == callback else {
            throw OIDCRefusal(kind: .unauthenticated, reason: "the sign-in was started for another callback")
        }
        let expires = Date(timeIntervalSince1970: pending.expires)
        guard expires > Date() else { throw OIDCRefusal(kind: .unauthenticated, reason: "state expired") }
        let store = IdentityStore(logger: logger)
        guard
            try await metadata.withConnection({
                try await store.spend(stateDigest: stateDigest, provider: pending.provider, expiresAt: expires, on: $0)
            })
        else { throw OIDCRefusal(kind: .unauthenticated, reason: "state already used") }
        guard
            let provider = try await metadata.withConnection({ try await store.provider(id: pending.provider, on: $0) }
            ),
            provider.enabled
        else { throw OIDCRefusal(kind: .unauthenticated, reason: "the provider was removed") }

        let claims: IDTokenClaims
        do {
            let discovery = try await client.discover(provider.issuer)
            let idToken = try await client.exchange(
                code: code, verifier: pending.verifier, redirectURI: redirectURI(callback), clientID: provider.clientID,
                clientSecret: try box.open(
                    provider.clientSecretSealed, boundTo: IdentityProviderRecord.secretLabel(provider.id)),
                discovery: discovery)
            claims = try await client.verify(
                idToken: idToken, issuer: provider.issuer, clientID: provider.clientID,
                nonceDigest: Self.digest(pending.nonce), discovery: discovery)
        } catch let error as OIDCError {
            switch error {
            case .codeRefused, .token: throw OIDCRefusal(kind: .unauthenticated, reason: error.reason)
            default: throw TesseraError.unavailable("the identity provider cannot be used now: \(error.reason)")
            }
        }
        let email = try admittedEmail(claims, provider: provider)

        return try await metadata.auditedChange(logger: logger) { [logger] connection, trail in
            let users = UserStore(logger: logger)
            var joined = false
            let user: UUID
            let linked = try await store.linkedUser(provider: provider.id, subject: claims.subject, on: connection)
            if let linkUser = pending.link {
                guard linked == nil || linked == linkUser else {
                    throw OIDCRefusal(kind: .unlinkedAccount, reason: "this identity is linked to another account")
                }
                if linked == nil {
                    _ = try await store.link(
                        user: linkUser, provider: provider.id, subject: claims.subject, email: email, on: connection)
                    try await trail.append(
                        self.linkEvent(actor, user: linkUser, provider: provider, subject: claims.subject))
                }
                user = linkUser
            } else if let linked {
                user = linked
            } else {
                guard try await users.loginUser(email: email, on: connection) == nil else {
                    throw OIDCRefusal(
                        kind: .unlinkedAccount,
                        reason:
                            "an account with this email exists: sign in to it and link the provider (POST /v1/auth/oidc/{provider}/link)"
                    )
                }
                user = try await self.join(
                    email: email, claims: claims, provider: provider, actor: actor, on: connection, trail: trail)
                joined = true
            }
            guard let account = try await users.email(of: user, activeOnly: true, on: connection) else {
                throw OIDCRefusal(kind: .unauthenticated, reason: "the account is not active")
            }
            try await store.recordLogin(provider: provider.id, subject: claims.subject, email: email, on: connection)
            let session = try await SignIn.issueSession(
                user: user, email: account, method: "oidc", lifetime: sessionLifetime, actor: actor,
                metadata: ["provider_id": Self.id(provider.id)], logger: logger, on: connection, trail: trail)
            return SignedIn(user: user, email: account, session: session, joined: joined)
        }
    }

    /// The token's email when this provider admits it: present, verified by the provider, in an allowed domain.
    func admittedEmail(_ claims: IDTokenClaims, provider: IdentityProviderRecord) throws -> String {
        guard let raw = claims.email, let email = try? EmailAddress.validated(raw) else {
            throw OIDCRefusal(kind: .notAdmitted, reason: "the ID token carries no usable email")
        }
        guard claims.emailVerified else {
            throw OIDCRefusal(kind: .notAdmitted, reason: "the provider has not verified the email")
        }
        let domain = String(email.split(separator: "@").last ?? "").lowercased()
        guard provider.allowedDomains.contains(domain) else {
            throw OIDCRefusal(kind: .notAdmitted, reason: "email domain not allowed by this provider")
        }
        return email
    }

    /// A person new to Tessera: a user (verified by the provider, no password), the identity, and membership
    /// with the provider's role, under the org's member quota.
    private func join(
        email: String, claims: IDTokenClaims, provider: IdentityProviderRecord, actor: AuditActor,
        on connection: PostgresConnection, trail: AuditTrail
    ) async throws -> UUID {
        let members = MemberStore(logger: logger)
        try await members.lockOrg(provider.org, on: connection)
        guard
            let role = try await RoleStore(logger: logger).role(named: provider.role, org: provider.org, on: connection)
        else {
            throw TesseraError.conflict("the provider's role '\(provider.role)' no longer exists; ask an org admin")
        }
        try await OrgStore(logger: logger).quotas(provider.org, on: connection).check(
            .members, used: try await members.count(org: provider.org, on: connection))
        let users = UserStore(logger: logger)
        let (user, _) = try await users.findOrCreate(email: email, passwordHash: nil, on: connection)
        try await users.markVerified(user, on: connection)
        _ = try await IdentityStore(logger: logger).link(
            user: user, provider: provider.id, subject: claims.subject, email: email, on: connection)
        _ = try await members.add(org: provider.org, user: user, roles: [role.id], invitedBy: nil, on: connection)
        var who = actor
        (who.kind, who.id, who.display) = (.user, user, email)
        try await trail.append(linkEvent(who, user: user, provider: provider, subject: claims.subject))
        try await trail.append(
            who.event(
                org: provider.org, action: .memberAdd, entityType: "user", entityID: Self.id(user),
                metadata: [
                    "email": email, "roles": provider.role, "user_created": "true",
                    "via": "identity_provider:\(Self.id(provider.id))",
                ]))
        return user
    }

    private func linkEvent(_ actor: AuditActor, user: UUID, provider: IdentityProviderRecord, subject: String)
        -> AuditEvent
    {
        actor.event(
            org: provider.org, action: .identityLink, entityType: "user", entityID: Self.id(user),
            metadata: ["provider_id": Self.id(provider.id), "issuer": provider.issuer, "subject": subject])
    }

    static func digest(_ text: String) -> [UInt8] { SHA256.hash(data: Data(text.utf8)).bytes }

    static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }

    /// A DNS name of at least two labels (letters, digits, hyphens), as an email's domain is written.
    static func isDomain(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && text.utf8.count <= 253
            && labels.allSatisfy { label in
                !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.utf8.allSatisfy {
                        $0 == UInt8(ascii: "-") || ($0 < 128 && Character(Unicode.Scalar($0)).isLetter)
                            || ($0 >= 48 && $0 <= 57)
                    }
            }
    }
}

/// Sessions, however the user proved who they are (password or identity provider): one token, one login record.
public enum SignIn {
    public static func issueSession(
        user: UUID, email: String, method: String, lifetime: Duration, actor: AuditActor,
        metadata extra: [String: String] = [:], logger: Logger, on connection: PostgresConnection, trail: AuditTrail
    ) async throws -> (id: UUID, token: SessionToken, expiresAt: Date) {
        let users = UserStore(logger: logger)
        let issued = try await users.issueToken(
            user: user, kind: "session", lifetime: lifetime, clientIP: actor.clientIP, userAgent: actor.userAgent,
            on: connection)
        try await users.recordLogin(user: user, on: connection)
        var who = actor
        (who.kind, who.id, who.display) = (.user, user, email)
        try await trail.append(
            who.event(
                org: nil, action: .sessionLogin, entityType: "session", entityID: issued.id.uuidString.lowercased(),
                metadata: extra.merging(["method": method]) { $1 }))
        return issued
    }
}
