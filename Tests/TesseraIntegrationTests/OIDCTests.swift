import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import TesseraPostgres
import TesseraProvisioning
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// OIDC sign-in end to end over HTTP against a real provider (provisioning/oidc-test-server, on authlib, started
/// by each test on 127.0.0.1): the gateway fetches its discovery document and keys and calls its token endpoint;
/// the test plays the browser. What holds and what is refused, each refusal an `auth.failed` record.
@Suite struct OIDCTests {
    static let logger = TestDatabase.logger

    struct Env: Sendable {
        let settings: Settings
        let fixture: AccessFixture
        let idp: OIDCProvider
        let client: any TestClientProtocol

        var admin: HTTPFields {
            [.authorization: "Bearer \(fixture.adminA.plaintext)", .contentType: "application/json"]
        }

        func register(
            issuer: String? = nil, domains: String = #"["example.test"]"#, role: String = "viewer", org: UUID? = nil,
            as headers: HTTPFields? = nil
        ) async throws -> TestResponse {
            let body = #"""
                {"name":"corp-\#(UUID())","issuer":"\#(issuer ?? idp.issuer)","client_id":"tessera",
                 "client_secret":"tessera-secret","allowed_domains":\#(domains),"role":"\#(role)"}
                """#
            return try await client.execute(
                uri: "/v1/orgs/\(org ?? fixture.orgA)/identity-providers", method: .post, headers: headers ?? admin,
                body: ByteBuffer(string: body))
        }

        func provider() async throws -> String {
            let created = try await register()
            #expect(created.status == .created, "\(String(buffer: created.body))")
            struct Created: Decodable { let id: String }
            return try JSONDecoder().decode(Created.self, from: Data(buffer: created.body)).id
        }

        /// The whole round: start at the gateway, approve at the provider, come back to the callback with the
        /// cookie the start set (as a browser does). Returns the callback's answer, its URI and the cookie.
        func signIn(_ provider: String, start: TestResponse? = nil) async throws -> (TestResponse, String, String) {
            let begun: TestResponse
            if let start {
                begun = start
            } else {
                begun = try await client.execute(uri: "/v1/auth/oidc/\(provider)/start", method: .get)
            }
            let location = try #require(Self.authorizationURL(begun), "\(begun.status) \(String(buffer: begun.body))")
            let cookie = try #require(Self.cookie(begun))
            let callback = try await idp.authorize(location)
            let url = try #require(URLComponents(string: callback))
            let uri = url.path + "?" + (url.percentEncodedQuery ?? "")
            return (try await callBack(uri, cookie: cookie), uri, cookie)
        }

        func callBack(_ uri: String, cookie: String?) async throws -> TestResponse {
            var headers: HTTPFields = [:]
            if let cookie { headers[.cookie] = cookie }
            return try await client.execute(uri: uri, method: .get, headers: headers)
        }

        /// `name=value` of the sign-in cookie a response set.
        static func cookie(_ response: TestResponse) -> String? {
            response.headers[.setCookie]?.split(separator: ";").first.map(String.init)
        }

        static func authorizationURL(_ response: TestResponse) -> String? {
            if let location = response.headers[.location] { return location }
            struct Authorization: Decodable { let authorization_url: String }
            return try? JSONDecoder().decode(Authorization.self, from: Data(buffer: response.body)).authorization_url
        }

        func query<T: PostgresDecodable & Sendable>(_ sql: String, as: T.Type) async throws -> [T] {
            try await settings.database.withConnection(as: .admin, logger: OIDCTests.logger) {
                try await $0.query(PostgresQuery(unsafeSQL: sql), logger: OIDCTests.logger).collect().map {
                    try $0.decode(T.self)
                }
            }
        }

        func failureReasons() async throws -> [String] {
            try await query(
                "SELECT metadata->>'reason' FROM audit_logs WHERE action = 'auth.failed' ORDER BY seq", as: String.self)
        }

        func count(_ action: String) async throws -> Int {
            try await query("SELECT count(*)::int FROM audit_logs WHERE action = '\(action)'", as: Int.self)[0]
        }
    }

    static func with(privateIssuers: Bool = true, _ body: @escaping @Sendable (Env) async throws -> Void) async throws {
        try await TestDatabase.withFresh(migrated: true) { base in
            var tuned = base
            tuned.auth.maxFailures = 1_000
            tuned.accounts.oidcPrivateIssuers = privateIssuers
            let settings = tuned
            let fixture = try await AccessFixture.make(settings)
            try await OIDCProvider.with { idp in
                let app = try buildApplication(settings: settings, logger: Self.logger)
                try await app.test(.router) { client in
                    try await body(Env(settings: settings, fixture: fixture, idp: idp, client: client))
                }
            }
        }
    }

    static func session(_ response: TestResponse) throws -> (token: String, user: String) {
        struct Session: Decodable {
            let token: String
            let user_id: String
        }
        let session = try JSONDecoder().decode(Session.self, from: Data(buffer: response.body))
        return (session.token, session.user_id)
    }

    @Test func aNewPersonJoinsWithTheProvidersRoleAndSignsInAgain() async throws {
        try await Self.with { env in
            let created = try await env.register()
            #expect(created.status == .created)
            #expect(!String(buffer: created.body).contains("tessera-secret"))
            struct Created: Decodable {
                let id: String
                let redirect_uri: String
                let sign_in_url: String
            }
            let registered = try JSONDecoder().decode(Created.self, from: Data(buffer: created.body))
            let provider = registered.id
            #expect(registered.redirect_uri.hasSuffix("/v1/auth/oidc/callback"))
            #expect(registered.sign_in_url.hasSuffix("/v1/auth/oidc/\(provider)/start"))
            // The secret is sealed: not in the table in plaintext.
            let stored = try await env.query(
                "SELECT encode(client_secret_ciphertext, 'escape') FROM identity_providers", as: String.self)
            #expect(stored.count == 1 && !stored[0].contains("tessera-secret"))

            let start = try await env.client.execute(uri: "/v1/auth/oidc/\(provider)/start", method: .get)
            #expect(start.status == .found)
            let location = try #require(start.headers[.location])
            let query = try #require(URLComponents(string: location)?.queryItems)
            func item(_ name: String) -> String? { query.first { $0.name == name }?.value }
            #expect(location.hasPrefix(env.idp.issuer + "/authorize?"))
            #expect(item("code_challenge_method") == "S256" && item("code_challenge")?.count == 43)
            #expect(item("state")?.count == 43 && item("nonce")?.count == 43 && item("client_id") == "tessera")
            // Nothing is written at the start; the browser holds the sign-in, sealed: no state, nonce or verifier
            // readable in its cookie, which scripts cannot read and only the callback's path gets back.
            let setCookie = try #require(start.headers[.setCookie])
            #expect(setCookie.hasPrefix("tessera_oidc=") && !setCookie.contains(item("state")!))
            #expect(!setCookie.contains(item("nonce")!) && !setCookie.contains("%"))
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax"))
            #expect(setCookie.contains("Path=/v1/auth/oidc") && setCookie.contains("Max-Age=600"))
            #expect(try await env.query("SELECT count(*)::int FROM oidc_states_spent", as: Int.self) == [0])
            let (first, uri, cookie) = try await env.signIn(provider, start: start)
            #expect(first.status == .ok, "\(String(buffer: first.body))")
            let (token, user) = try Self.session(first)
            let whoami = try await env.client.execute(
                uri: "/v1/auth/whoami", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(whoami.status == .ok)
            let me = String(buffer: whoami.body)
            #expect(me.contains(env.fixture.orgA.uuidString.lowercased()) && me.contains("predictions.read"))
            #expect(!me.contains("members.manage"), "the provider's role is viewer: \(me)")
            #expect(try await env.count("identity.link") == 1)
            #expect(try await env.count("member.add") == 1)
            let methods = try await env.query(
                "SELECT metadata->>'method' FROM audit_logs WHERE action = 'session.login'", as: String.self)
            #expect(methods == ["oidc"])
            let auth = try await env.idp.stats()
            #expect(auth.token_auth == "basic" && auth.token_requests == 1)

            // The same callback again, in the same browser: the state is spent.
            let replay = try await env.callBack(uri, cookie: cookie)
            #expect(replay.status == .unauthorized)
            #expect(String(buffer: replay.body).contains("state already used"))
            #expect(try await env.failureReasons() == ["oidc: state already used"])

            // Signing in again: the same user (found by issuer and subject), no second membership.
            let (second, _, _) = try await env.signIn(provider)
            #expect(second.status == .ok)
            #expect(try Self.session(second).user == user)
            #expect(try await env.count("member.add") == 1)
            #expect(try await env.count("identity.link") == 1)
            // Linked by subject, not by email: the provider changing the email does not make a new user.
            try await env.idp.configure(#"{"email":"ada.lovelace@example.test"}"#)
            let (renamed, _, _) = try await env.signIn(provider)
            #expect(renamed.status == .ok)
            #expect(try Self.session(renamed).user == user)
        }
    }

    /// The web console's sign-in: started at the console, it comes back to the console's callback and ends in its
    /// session cookie; a sign-in finishes only at the callback it was started for (the provider's code is bound to
    /// that redirect URI too), and a refusal is an `auth.failed` record shown on the sign-in page.
    @Test func theConsoleSignsInAtItsOwnCallbackOnly() async throws {
        try await Self.with { env in
            let provider = try await env.provider()
            func begin(_ path: String) async throws -> (uri: String, cookie: String) {
                let start = try await env.client.execute(uri: path, method: .get)
                let callback = try await env.idp.authorize(try #require(Env.authorizationURL(start)))
                let url = try #require(URLComponents(string: callback))
                return (url.path + "?" + (url.percentEncodedQuery ?? ""), try #require(Env.cookie(start)))
            }
            // Started at the console: its cookie goes to the console's paths only, and the provider returns there.
            let start = try await env.client.execute(uri: "/console/login/oidc/\(provider)/start", method: .get)
            #expect(start.status == .seeOther)
            let setCookie = try #require(start.headers[.setCookie])
            #expect(setCookie.contains("Path=/console/login/oidc;") && setCookie.contains("HttpOnly"))
            let console = try await begin("/console/login/oidc/\(provider)/start")
            #expect(console.uri.hasPrefix("/console/login/oidc/callback?"))
            // Finished at the API's callback instead: refused (before anything is spent or exchanged).
            let apiPath = console.uri.replacingOccurrences(
                of: "/console/login/oidc/callback", with: "/v1/auth/oidc/callback")
            #expect(try await env.callBack(apiPath, cookie: console.cookie).status == .unauthorized)
            #expect(try await env.failureReasons().last == "oidc: the sign-in was started for another callback")
            // At its own callback: the console's session cookie, on a page that moves on to the console.
            let done = try await env.callBack(console.uri, cookie: console.cookie)
            #expect(done.status == .ok)
            let cookies = done.headers[values: .setCookie]
            let session = try #require(cookies.first { $0.hasPrefix("tessera_session=tss_") })
            #expect(session.contains("HttpOnly") && session.contains("SameSite=Strict"))
            #expect(cookies.contains { $0.hasPrefix("tessera_oidc=;") && $0.contains("Max-Age=0") })
            #expect(String(buffer: done.body).contains(#"http-equiv="refresh" content="0; url=/console""#))
            #expect(done.headers[.referrerPolicy] == "no-referrer")
            let token = String(session.dropFirst("tessera_session=".count).prefix { $0 != ";" })
            let whoami = try await env.client.execute(
                uri: "/v1/auth/whoami", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(whoami.status == .ok)
            // An API sign-in finished at the console's callback: refused there, on the sign-in page.
            let api = try await begin("/v1/auth/oidc/\(provider)/start")
            let consolePath = api.uri.replacingOccurrences(
                of: "/v1/auth/oidc/callback", with: "/console/login/oidc/callback")
            let refused = try await env.callBack(consolePath, cookie: api.cookie)
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(String(buffer: refused.body).contains("started for another callback"))
            #expect(try await env.failureReasons().last == "oidc: the sign-in was started for another callback")
        }
    }

    @Test func whatDoesNotHoldIsRefusedAndRecorded() async throws {
        try await Self.with { env in
            let provider = try await env.provider()
            let cases: [(config: String, status: HTTPResponse.Status, reason: String)] = [
                (#"{"aud":"someone-else"}"#, .unauthorized, "oidc: wrong audience"),
                (#"{"reset":true,"bad_signature":true}"#, .unauthorized, "oidc: bad signature"),
                (#"{"reset":true,"expired":true}"#, .unauthorized, "oidc: expired token"),
                (
                    #"{"reset":true,"sub":"eve","email":"eve@elsewhere.test"}"#, .forbidden,
                    "oidc: email domain not allowed by this provider"
                ),
                (
                    #"{"sub":"mallory","email":"mallory@example.test","email_verified":false}"#, .forbidden,
                    "oidc: the provider has not verified the email"
                ),
            ]
            for (config, status, reason) in cases {
                try await env.idp.configure(config)
                let (answer, _, _) = try await env.signIn(provider)
                #expect(answer.status == status, "\(config): \(String(buffer: answer.body))")
                #expect(answer.headers[.contentType] == "application/problem+json")
                let reasons = try await env.failureReasons()
                #expect(reasons.last == reason, "\(config): \(reasons)")
            }
            // A sign-in finished in another browser (no cookie, or another sign-in's): refused, and not spent,
            // so the browser that started it still can (login CSRF and a stolen code both fail).
            try await env.idp.configure(
                #"{"reset":true,"sub":"user-1","email":"ada@example.test","email_verified":true}"#)
            let start = try await env.client.execute(uri: "/v1/auth/oidc/\(provider)/start", method: .get)
            let mine = try #require(Env.cookie(start))
            let callback = try await env.idp.authorize(try #require(start.headers[.location]))
            let url = try #require(URLComponents(string: callback))
            let uri = url.path + "?" + (url.percentEncodedQuery ?? "")
            let other = try await env.client.execute(uri: "/v1/auth/oidc/\(provider)/start", method: .get)
            #expect(try await env.callBack(uri, cookie: nil).status == .unauthorized)
            #expect(try await env.callBack(uri, cookie: try #require(Env.cookie(other))).status == .unauthorized)
            #expect(try await env.callBack(uri, cookie: "tessera_oidc=forged").status == .unauthorized)
            // (A reason seen again from the same address in the window is summed into one later record.)
            #expect(
                try await env.failureReasons().suffix(2) == [
                    "oidc: no sign-in was started in this browser", "oidc: the state is not this browser's sign-in",
                ])
            #expect(try await env.count("session.login") == 0)
            #expect(try await env.callBack(uri, cookie: mine).status == .ok)
            // The provider's own refusal.
            let declined = try await env.client.execute(
                uri: "/v1/auth/oidc/callback?state=x&error=access_denied", method: .get)
            #expect(declined.status == .unauthorized)
            #expect(try await env.failureReasons().last == "oidc: the provider answered access_denied")
            // Nobody got in but Ada from her own browser: one session, one identity.
            #expect(try await env.count("session.login") == 1)
            #expect(try await env.query("SELECT count(*)::int FROM identities", as: Int.self) == [1])
            #expect(try await env.query("SELECT count(*)::int FROM tokens WHERE kind = 'session'", as: Int.self) == [1])
        }
    }

    @Test func anExistingAccountIsNeverTakenOverOnlyLinkedFromInside() async throws {
        try await Self.with { env in
            let provider = try await env.provider()
            // Ada has a password account already.
            let password = "a passphrase of my own"
            let hash = try PasswordHasher().hash(password)
            _ = try await env.settings.database.withConnection(as: .admin, logger: Self.logger) {
                try await UserStore(logger: Self.logger).findOrCreate(
                    email: "ada@example.test", passwordHash: hash, on: $0)
            }
            let (refused, _, _) = try await env.signIn(provider)
            #expect(refused.status == .conflict, "\(String(buffer: refused.body))")
            #expect(try await env.query("SELECT count(*)::int FROM identities", as: Int.self) == [0])
            // From inside her account she links the provider; then signing in with it is signing in as her.
            let login = try await env.client.execute(
                uri: "/v1/auth/login", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"email":"ada@example.test","password":"\#(password)"}"#))
            let (token, user) = try Self.session(login)
            let link = try await env.client.execute(
                uri: "/v1/auth/oidc/\(provider)/link", method: .post, headers: [.authorization: "Bearer \(token)"])
            #expect(link.status == .ok)
            let (linked, _, _) = try await env.signIn(provider, start: link)
            #expect(linked.status == .ok)
            #expect(try Self.session(linked).user == user)
            let (again, _, _) = try await env.signIn(provider)
            #expect(again.status == .ok)
            #expect(try Self.session(again).user == user)
            // An API key links nothing.
            let byKey = try await env.client.execute(
                uri: "/v1/auth/oidc/\(provider)/link", method: .post, headers: env.admin)
            #expect(byKey.status == .badRequest)
        }
    }

    @Test func aRotatedSigningKeyIsFetchedOnce() async throws {
        try await Self.with { env in
            let provider = try await env.provider()
            #expect(try await env.signIn(provider).0.status == .ok)
            #expect(try await env.idp.stats().jwks_fetches == 1)
            #expect(try await env.signIn(provider).0.status == .ok)
            #expect(try await env.idp.stats().jwks_fetches == 1, "the key set is cached")
            try await env.idp.configure(#"{"rotate":true}"#)
            try await Task.sleep(for: OIDCClient.keyRefetchInterval)
            let (rotated, _, _) = try await env.signIn(provider)
            #expect(rotated.status == .ok, "\(String(buffer: rotated.body))")
            #expect(try await env.idp.stats().jwks_fetches == 2)
        }
    }

    @Test func registrationIsValidatedAndPrivateIssuersAreNotCalled() async throws {
        try await Self.with(privateIssuers: false) { env in
            // Loopback over http and over https: refused before any call (the provider saw nothing). Other
            // private and link-local ranges are the unit tests' (OutboundAddress): nothing here names them.
            for issuer in [env.idp.issuer, "https://127.0.0.1:\(env.idp.port)", "https://localhost:\(env.idp.port)"] {
                let answer = try await env.register(issuer: issuer)
                #expect(answer.status == .unprocessableContent, "\(issuer): \(String(buffer: answer.body))")
            }
            #expect(try await env.idp.stats().discovery_fetches == 0)
        }
        try await Self.with { env in
            // Unreachable, another issuer's document, no domains, a role the registrant cannot grant, a viewer.
            #expect(try await env.register(issuer: "http://127.0.0.1:9").status == .unprocessableContent)
            #expect(try await env.register(issuer: env.idp.issuer + "/other").status == .unprocessableContent)
            #expect(try await env.register(domains: "[]").status == .unprocessableContent)
            #expect(try await env.register(domains: #"["not a domain"]"#).status == .unprocessableContent)
            #expect(try await env.register(role: "owner").status == .forbidden)
            #expect(try await env.register(role: "nope").status == .unprocessableContent)
            let viewer: HTTPFields = [
                .authorization: "Bearer \(env.fixture.viewerA.plaintext)", .contentType: "application/json",
            ]
            #expect(try await env.register(as: viewer).status == .forbidden)
            // Another org's admin reaches nothing of org A's.
            let other: HTTPFields = [
                .authorization: "Bearer \(env.fixture.adminB.plaintext)", .contentType: "application/json",
            ]
            #expect(try await env.register(as: other).status == .notFound)
            let provider = try await env.provider()
            let list = try await env.client.execute(
                uri: "/v1/orgs/\(env.fixture.orgA)/identity-providers", method: .get, headers: env.admin)
            #expect(String(buffer: list.body).contains(provider))
            #expect(try await env.count("identity_provider.create") == 1)
            let removed = try await env.client.execute(
                uri: "/v1/orgs/\(env.fixture.orgA)/identity-providers/\(provider)", method: .delete,
                headers: env.admin)
            #expect(removed.status == .noContent)
            #expect(try await env.count("identity_provider.delete") == 1)
            let gone = try await env.client.execute(uri: "/v1/auth/oidc/\(provider)/start", method: .get)
            #expect(gone.status == .notFound)
        }
    }
}

/// provisioning/oidc-test-server, running for one test.
struct OIDCProvider: Sendable {
    let port: Int
    var issuer: String { "http://127.0.0.1:\(port)" }

    static let http = HTTPClient(
        eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    static func with(_ body: (OIDCProvider) async throws -> Void) async throws {
        try await ScriptServer.with("oidc-test-server", []) { port in try await body(OIDCProvider(port: port)) }
    }

    /// The browser at the authorization endpoint: the provider approves and redirects to the callback.
    func authorize(_ url: String) async throws -> String {
        let response = try await Self.http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        #expect(response.status == .found)
        return try #require(response.headers.first(name: "Location"))
    }

    func configure(_ json: String) async throws {
        var request = HTTPClientRequest(url: "\(issuer)/test/config")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: json))
        #expect(try await Self.http.execute(request, timeout: .seconds(10)).status == .noContent)
    }

    struct Stats: Decodable {
        let jwks_fetches: Int
        let discovery_fetches: Int
        let token_requests: Int
        let token_auth: String?
    }

    func stats() async throws -> Stats {
        let response = try await Self.http.execute(
            HTTPClientRequest(url: "\(issuer)/test/stats"), timeout: .seconds(10))
        return try JSONDecoder().decode(Stats.self, from: Data(buffer: try await response.body.collect(upTo: 1 << 16)))
    }
}
