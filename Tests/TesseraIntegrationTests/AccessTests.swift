import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// The isolation matrix: every org route × every kind of caller, with the exact status expected.
/// Extend `routes` as routes are added: this is the guard against cross-tenant leaks.
@Suite struct IsolationMatrixTests {
    /// Fresh objects in org A for a route to act on: a key, a member, a custom role.
    struct Target: Sendable {
        let key: UUID
        let user: UUID
        let role: UUID
        let provider: UUID
    }

    struct Route: Sendable {
        let name: String
        let method: HTTPRequest.Method
        let path: @Sendable (_ org: UUID, _ target: Target) -> String
        let body: (@Sendable () -> String)?
        let success: HTTPResponse.Status
    }

    static let routes: [Route] = [
        Route(
            name: "create key", method: .post, path: { o, _ in "/v1/orgs/\(o)/api-keys" },
            body: { #"{"name":"k","role":"viewer"}"# }, success: .created),
        Route(name: "list keys", method: .get, path: { o, _ in "/v1/orgs/\(o)/api-keys" }, body: nil, success: .ok),
        Route(
            name: "get key", method: .get, path: { o, t in "/v1/orgs/\(o)/api-keys/\(t.key)" }, body: nil, success: .ok),
        Route(
            name: "revoke key", method: .delete, path: { o, t in "/v1/orgs/\(o)/api-keys/\(t.key)" }, body: nil,
            success: .ok),
        Route(
            name: "rotate key", method: .post, path: { o, t in "/v1/orgs/\(o)/api-keys/\(t.key)/rotate" },
            body: { #"{"grace_seconds":0}"# }, success: .created),
        Route(name: "list members", method: .get, path: { o, _ in "/v1/orgs/\(o)/members" }, body: nil, success: .ok),
        Route(
            name: "add member", method: .post, path: { o, _ in "/v1/orgs/\(o)/members" },
            body: { #"{"email":"\#(UUID())@example.test","roles":["viewer"]}"# },
            success: .created),
        Route(
            name: "set member roles", method: .put, path: { o, t in "/v1/orgs/\(o)/members/\(t.user)" },
            body: { #"{"roles":["editor"]}"# }, success: .ok),
        Route(
            name: "remove member", method: .delete, path: { o, t in "/v1/orgs/\(o)/members/\(t.user)" }, body: nil,
            success: .noContent),
        Route(name: "list roles", method: .get, path: { o, _ in "/v1/orgs/\(o)/roles" }, body: nil, success: .ok),
        Route(
            name: "create role", method: .post, path: { o, _ in "/v1/orgs/\(o)/roles" },
            body: { #"{"name":"r\#(UInt32.random(in: 0...UInt32.max))","permissions":["predictions.read"]}"# },
            success: .created),
        Route(
            name: "delete role", method: .delete, path: { o, t in "/v1/orgs/\(o)/roles/\(t.role)" }, body: nil,
            success: .noContent),
        Route(
            name: "list identity providers", method: .get, path: { o, _ in "/v1/orgs/\(o)/identity-providers" },
            body: nil, success: .ok),
        // Past the chain the issuer is checked before anything is fetched: the caller who may register gets
        // the 422 of an issuer that is no URL (OIDCTests registers for real).
        Route(
            name: "create identity provider", method: .post, path: { o, _ in "/v1/orgs/\(o)/identity-providers" },
            body: {
                #"{"name":"p","issuer":"not a url","client_id":"c","client_secret":"s","allowed_domains":["example.test"],"role":"viewer"}"#
            }, success: .unprocessableContent),
        Route(
            name: "delete identity provider", method: .delete,
            path: { o, t in "/v1/orgs/\(o)/identity-providers/\(t.provider)" }, body: nil, success: .noContent),
    ]

    enum Caller: String, CaseIterable, Sendable {
        case none, malformed, wrongSecret, revoked, expired, otherOrg, lacking, holding, platform
    }

    static func expected(_ caller: Caller, _ route: Route) -> HTTPResponse.Status {
        switch caller {
        case .none, .malformed, .wrongSecret, .revoked, .expired: .unauthorized
        case .otherOrg: .notFound
        case .lacking: .forbidden
        case .holding, .platform: route.success
        }
    }

    static func headers(_ caller: Caller, _ f: AccessFixture) -> HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        let token: String? =
            switch caller {
            case .none: nil
            case .malformed: "tsk_not_a_key"
            case .wrongSecret: AccessFixture.wrongSecret(for: f.adminA)
            case .revoked: f.revokedA.plaintext
            case .expired: f.expiredA.plaintext
            case .otherOrg: f.adminB.plaintext
            case .lacking: f.viewerA.plaintext
            case .holding: f.adminA.plaintext
            case .platform: f.platform.plaintext
            }
        if let token { headers[.authorization] = "Bearer \(token)" }
        return headers
    }

    @Test func everyRouteAnswersEveryCallerExactly() async throws {
        try await TestDatabase.withFresh(migrated: true) { baseSettings in
            var tuned = baseSettings
            tuned.auth.maxFailures = 1_000  // the matrix fails on purpose many times from one address
            let settings = tuned
            let fixture = try await AccessFixture.make(settings)
            let app = try buildApplication(settings: settings, logger: TestDatabase.logger)
            try await app.test(.router) { client in
                for route in Self.routes {
                    for caller in Caller.allCases {
                        let target = try await Self.freshTarget(in: fixture.orgA, settings: settings, fixture: fixture)
                        let path = route.path(fixture.orgA, target)
                        try await client.execute(
                            uri: path, method: route.method, headers: Self.headers(caller, fixture),
                            body: route.body.map { ByteBuffer(string: $0()) }
                        ) { response in
                            #expect(
                                response.status == Self.expected(caller, route),
                                "\(route.name) as \(caller.rawValue): \(response.status.code) \(String(buffer: response.body))"
                            )
                            if response.status.code >= 400 {
                                #expect(response.headers[.contentType] == "application/problem+json")
                            }
                        }
                    }
                }
                // An org that does not exist answers exactly like an org that is not yours.
                try await client.execute(
                    uri: "/v1/orgs/\(UUID())/api-keys", method: .get,
                    headers: AccessFixture.bearer(fixture.adminA.plaintext)
                ) { #expect($0.status == .notFound) }
                try await client.execute(
                    uri: "/v1/orgs/not-a-uuid/api-keys", method: .get,
                    headers: AccessFixture.bearer(fixture.adminA.plaintext)
                ) { #expect($0.status == .notFound) }
            }
        }
    }

    /// A live viewer key, a viewer member and an unused custom role in `org`, for a route to act on.
    static func freshTarget(in org: UUID, settings: Settings, fixture: AccessFixture) async throws -> Target {
        try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) { connection in
            let logger = TestDatabase.logger
            let viewer = try await RoleStore(logger: logger).role(named: "viewer", org: org, on: connection)!
            let key = try await APIKeyStore(logger: logger).create(
                org: org, name: "target", roleID: viewer.id, expiresAt: nil, createdBy: fixture.platformPrincipal,
                on: connection
            ).0.id
            let (user, _) = try await UserStore(logger: logger).findOrCreate(
                email: "\(UUID())@example.test", passwordHash: nil, on: connection)
            _ = try await MemberStore(logger: logger).add(
                org: org, user: user, roles: [viewer.id], invitedBy: nil, on: connection)
            let role = try await RoleStore(logger: logger).create(
                org: org, name: "t\(UInt32.random(in: 0...UInt32.max))", description: nil, permissions: [.tasksRead],
                on: connection)!
            let provider = try await IdentityStore(logger: logger).create(
                id: UUID(), org: org, name: "p\(UUID())", issuer: "https://127.0.0.1:9", clientID: "c",
                secretSealed: [1], allowedDomains: ["example.test"], role: "viewer", on: connection)!
            return Target(key: key, user: user, role: role.id, provider: provider.id)
        }
    }
}

@Suite struct APIKeyRouteTests {
    struct Issued: Decodable {
        struct Key: Decodable {
            let id: String
            let prefix: String
            let role: String
            let status: String
        }
        let key: String
        let api_key: Key
    }

    struct Page: Decodable {
        let items: [Issued.Key]
        let next_cursor: String?
    }

    func withApp(_ body: @escaping @Sendable (AccessFixture, any TestClientProtocol, Settings) async throws -> Void)
        async throws
    {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let app = try buildApplication(settings: settings, logger: TestDatabase.logger)
            try await app.test(.router) { client in try await body(fixture, client, settings) }
        }
    }

    func create(_ client: some TestClientProtocol, org: UUID, as key: APIKey, role: String) async throws -> TestResponse
    {
        try await client.execute(
            uri: "/v1/orgs/\(org)/api-keys", method: .post,
            headers: [.authorization: "Bearer \(key.plaintext)", .contentType: "application/json"],
            body: ByteBuffer(string: #"{"name":"worker","role":"\#(role)"}"#))
    }

    /// Nobody revokes a key that holds more than they do (as nobody rotates or issues one), and a refusal a
    /// handler makes past the chain — a grant beyond what the caller holds — is recorded as `access.denied`.
    @Test func revokingIsBoundedByWhatTheRevokerHoldsAndRefusalsAreRecorded() async throws {
        try await withApp { fixture, client, settings in
            let owner = try JSONDecoder().decode(
                Issued.self,
                from: Data(
                    buffer: try await create(client, org: fixture.orgA, as: fixture.ownerA, role: "owner").body))
            let revoke = try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/api-keys/\(owner.api_key.id)", method: .delete,
                headers: AccessFixture.bearer(fixture.adminA.plaintext))
            #expect(revoke.status == .forbidden, "\(String(buffer: revoke.body))")
            #expect(try await create(client, org: fixture.orgA, as: fixture.adminA, role: "owner").status == .forbidden)
            let denials = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                try await $0.query(
                    """
                    SELECT entity_id, metadata->>'detail' FROM audit_logs
                    WHERE action = 'access.denied' AND org_id = \(fixture.orgA) ORDER BY seq
                    """, logger: TestDatabase.logger
                ).collect().map { try $0.decode((String, String?).self) }
            }
            #expect(denials.count == 2, "\(denials)")
            #expect(denials.first?.0 == "DELETE /v1/orgs/\(fixture.orgA)/api-keys/\(owner.api_key.id)")
            #expect(denials.allSatisfy { $0.1?.contains("nobody grants more than they hold") == true }, "\(denials)")
            // The key still works; its owner-holder may revoke it.
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/api-keys", method: .get, headers: AccessFixture.bearer(owner.key)
            ) { #expect($0.status == .ok) }
            let byOwner = try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/api-keys/\(owner.api_key.id)", method: .delete,
                headers: AccessFixture.bearer(fixture.ownerA.plaintext))
            #expect(byOwner.status == .ok)
        }
    }

    @Test func issuedKeyWorksAndIsStoredOnlyAsItsDigest() async throws {
        try await withApp { fixture, client, settings in
            let response = try await create(client, org: fixture.orgA, as: fixture.adminA, role: "editor")
            #expect(response.status == .created)
            let issued = try JSONDecoder().decode(Issued.self, from: Data(buffer: response.body))
            let key = try #require(APIKey.parse(issued.key))
            #expect(issued.api_key.prefix == key.displayPrefix)
            #expect(issued.api_key.role == "editor")
            // The new key authenticates; an editor may not manage keys.
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/api-keys", method: .get, headers: AccessFixture.bearer(issued.key)
            ) {
                #expect($0.status == .forbidden)
            }
            // Listing never shows a secret.
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/api-keys", method: .get,
                headers: AccessFixture.bearer(fixture.adminA.plaintext)
            ) {
                #expect($0.status == .ok)
                #expect(!String(buffer: $0.body).contains(issued.key))
            }
            let stored = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                connection in
                try await connection.query("SELECT api_keys::text FROM api_keys", logger: TestDatabase.logger)
                    .collect().map { try $0.decode(String.self) }.joined()
            }
            #expect(!stored.contains(String(issued.key.suffix(49))))
        }
    }

    @Test func nobodyGrantsMoreThanTheyHold() async throws {
        try await withApp { fixture, client, _ in
            // An admin lacks orgs.manage, so cannot issue an owner key; an owner can.
            let byAdmin = try await create(client, org: fixture.orgA, as: fixture.adminA, role: "owner")
            #expect(byAdmin.status == .forbidden)
            #expect(String(buffer: byAdmin.body).contains("orgs.manage"))
            #expect(try await create(client, org: fixture.orgA, as: fixture.ownerA, role: "owner").status == .created)
            // A viewer cannot issue keys at all, not even viewer keys.
            #expect(
                try await create(client, org: fixture.orgA, as: fixture.viewerA, role: "viewer").status == .forbidden)
            #expect(
                try await create(client, org: fixture.orgA, as: fixture.adminA, role: "no-such-role").status
                    == .unprocessableContent)
        }
    }

    @Test func revokedKeyIsRefusedAtOnce() async throws {
        try await withApp { fixture, client, _ in
            let issued = try JSONDecoder().decode(
                Issued.self,
                from: Data(buffer: try await create(client, org: fixture.orgA, as: fixture.adminA, role: "admin").body))
            let list = "/v1/orgs/\(fixture.orgA)/api-keys"
            try await client.execute(uri: list, method: .get, headers: AccessFixture.bearer(issued.key)) {
                #expect($0.status == .ok)
            }
            try await client.execute(
                uri: "\(list)/\(issued.api_key.id)", method: .delete,
                headers: AccessFixture.bearer(fixture.adminA.plaintext)
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"revoked\""))
            }
            // Cached a moment ago, yet refused now: the revocation notification reached the cache.
            try await waitUntil {
                try await client.execute(uri: list, method: .get, headers: AccessFixture.bearer(issued.key)) {
                    $0.status
                } == .unauthorized
            }
        }
    }

    @Test func rotationWithGraceKeepsTheOldKeyBriefly() async throws {
        try await withApp { fixture, client, _ in
            let list = "/v1/orgs/\(fixture.orgA)/api-keys"
            let old = try JSONDecoder().decode(
                Issued.self,
                from: Data(buffer: try await create(client, org: fixture.orgA, as: fixture.adminA, role: "admin").body))
            let rotated = try await client.execute(
                uri: "\(list)/\(old.api_key.id)/rotate", method: .post,
                headers: [.authorization: "Bearer \(fixture.adminA.plaintext)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"grace_seconds":15}"#))
            #expect(rotated.status == .created)
            let new = try JSONDecoder().decode(Issued.self, from: Data(buffer: rotated.body))
            #expect(new.key != old.key)
            try await client.execute(uri: list, method: .get, headers: AccessFixture.bearer(new.key)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: list, method: .get, headers: AccessFixture.bearer(old.key)) {
                #expect($0.status == .ok)
            }
            // A rotated key cannot be rotated again.
            try await client.execute(
                uri: "\(list)/\(old.api_key.id)/rotate", method: .post,
                headers: [.authorization: "Bearer \(fixture.adminA.plaintext)", .contentType: "application/json"],
                body: ByteBuffer(string: "{}")
            ) { #expect($0.status == .conflict, "\(String(buffer: $0.body))") }
            // (A grace of 15 s: under the whole suite's load, 6 s once passed before the old key's first check.)
            try await Task.sleep(for: .seconds(15.2))
            try await client.execute(uri: list, method: .get, headers: AccessFixture.bearer(old.key)) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test func listingPagesWithACursor() async throws {
        try await withApp { fixture, client, _ in
            for _ in 0..<3 { _ = try await create(client, org: fixture.orgA, as: fixture.adminA, role: "viewer") }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let uri = "/v1/orgs/\(fixture.orgA)/api-keys?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try JSONDecoder().decode(
                    Page.self,
                    from: Data(
                        buffer: try await client.execute(
                            uri: uri, method: .get, headers: AccessFixture.bearer(fixture.adminA.plaintext)
                        )
                        .body))
                #expect(page.items.count <= 2)
                seen += page.items.map(\.id)
                cursor = page.next_cursor
            } while cursor != nil
            // 6 fixture keys in org A (owner, admin, viewer, auditor, revoked, expired) + 3 new ones, each once.
            #expect(seen.count == 9)
            #expect(Set(seen).count == 9)
        }
    }

    /// Argon2 work is bounded: at most `limit` at once, `queue` waiting, the rest refused at once.
    @Test func passwordWorkRunsWithBoundedConcurrency() async throws {
        let gate = WorkGate(limit: 1, queue: 1, busy: "busy")
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    do {
                        try await gate.run { try await Task.sleep(for: .milliseconds(200)) }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 2 && outcomes.filter { !$0 }.count == 1)
        #expect(gate.peak == 1)
    }

    @Test func repeatedFailuresFromOneAddressAreAnswered429() async throws {
        try await TestDatabase.withFresh(migrated: true) { base in
            var tuned = base
            tuned.auth.maxFailures = 3
            let settings = tuned
            let fixture = try await AccessFixture.make(settings)
            let app = try buildApplication(settings: settings, logger: TestDatabase.logger)
            try await app.test(.router) { client in
                let uri = "/v1/orgs/\(fixture.orgA)/api-keys"
                for _ in 0..<3 {
                    try await client.execute(
                        uri: uri, method: .get,
                        headers: AccessFixture.bearer(AccessFixture.wrongSecret(for: fixture.adminA))
                    ) {
                        #expect($0.status == .unauthorized)
                    }
                }
                // Another bad key from that address waits...
                try await client.execute(
                    uri: uri, method: .get,
                    headers: AccessFixture.bearer(AccessFixture.wrongSecret(for: fixture.adminA))
                ) { response in
                    #expect(response.status == .tooManyRequests)
                    #expect(response.headers[.contentType] == "application/problem+json")
                    #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 > 0)
                }
                // ...but a valid key is never refused for what others sent from the same address.
                try await client.execute(
                    uri: uri, method: .get, headers: AccessFixture.bearer(fixture.adminA.plaintext)
                ) { #expect($0.status == .ok) }
                // Password attempts are limited too (per address and per account).
                try await client.execute(
                    uri: "/v1/auth/login", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"email":"someone@example.test","password":"wrong password 1"}"#)
                ) { #expect($0.status == .tooManyRequests) }
            }
        }
    }

    @Test func orgKeyNeverActsOutsideItsOrgButPlatformAdminActsAnywhere() async throws {
        try await withApp { fixture, client, _ in
            // The owner of A, holding every permission, still cannot see B.
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgB)/api-keys", method: .get,
                headers: AccessFixture.bearer(fixture.ownerA.plaintext)
            ) {
                #expect($0.status == .notFound)
            }
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgB)/api-keys", method: .get,
                headers: AccessFixture.bearer(fixture.platform.plaintext)
            ) {
                #expect($0.status == .ok)
            }
        }
    }
}

/// Polls `condition` for up to `timeout` (default 1 s, the revocation promise).
func waitUntil(timeout: Duration = .seconds(1), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    #expect(try await condition(), "condition not met within \(timeout)")
}

@Suite struct BearerHeaderTests {
    @Test func tokenIsTakenFromBearerHeadersOnly() {
        #expect(Authenticator.bearerToken("Bearer abc") == "abc")
        #expect(Authenticator.bearerToken("bearer   abc  ") == "abc")
        #expect(Authenticator.bearerToken("BEARER abc") == "abc")
        #expect(Authenticator.bearerToken("Basic abc") == nil)
        #expect(Authenticator.bearerToken("Bearer") == nil)
        #expect(Authenticator.bearerToken("Bearerabc") == nil)
    }
}

@Suite struct RouteRuleTests {
    @Test func everyOperationMustDeclareAKnownRule() throws {
        #expect(throws: RouteTable.RuleError.self) { try RouteTable.rule(nil, path: "/x", method: "GET") }
        #expect(throws: RouteTable.RuleError.self) {
            try RouteTable.rule("keys.steal", path: "/v1/orgs/{org}/x", method: "GET")
        }
        #expect(throws: RouteTable.RuleError.self) { try RouteTable.rule("keys.manage", path: "/v1/x", method: "GET") }
        #expect(try RouteTable.rule("keys.manage", path: "/v1/orgs/{org}/x", method: "GET") == .org(.keysManage))
        #expect(try RouteTable.rule("authenticated", path: "/v1/auth/whoami", method: "GET") == .authenticated)
        // Several permissions, all needed: named with spaces, each known, each once.
        let two = try RouteTable.rule("evaluations.write jobs.write", path: "/v1/orgs/{org}/x", method: "POST")
        #expect(two == .org(.evaluationsWrite, also: [.jobsWrite]))
        #expect(two.permissionName == "evaluations.write jobs.write")
        #expect(
            try RouteTable.rule("jobs.write  jobs.write", path: "/v1/orgs/{org}/x", method: "POST") == .org(.jobsWrite))
        #expect(throws: RouteTable.RuleError.self) {
            try RouteTable.rule("jobs.write keys.steal", path: "/v1/orgs/{org}/x", method: "POST")
        }
        #expect(throws: RouteTable.RuleError.self) {
            try RouteTable.rule(" ", path: "/v1/orgs/{org}/x", method: "POST")
        }
    }

    @Test func theContractDeclaresARuleForEveryOperation() throws {
        // Loading fails on a missing or unknown rule, so this is the whole contract checked.
        let document = try OpenAPIDocument.load()
        #expect(document.routes.rule(endpoint: "/v1/orgs/:org/api-keys", method: "POST") == .org(.keysManage))
        #expect(
            document.routes.rule(endpoint: "/v1/orgs/{org}/members/{user_id}", method: "DELETE") == .org(.membersManage)
        )
        #expect(
            document.routes.rule(endpoint: "/v1/orgs/:org/embedding-configs/:id/jobs", method: "POST")
                == .org(.evaluationsWrite, also: [.jobsWrite]))
        #expect(document.routes.rule(endpoint: "/healthz", method: "GET") == .public)
        #expect(document.routes.rule(endpoint: "/nope", method: "GET") == nil)
    }
}

@Suite struct AuthenticatedRouteTests {
    @Test func whoamiRefusesEveryBadCredentialAndKnowsEachGoodOne() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let app = try buildApplication(settings: settings, logger: TestDatabase.logger)
            try await app.test(.router) { client in
                for bad in [
                    nil, "tsk_x", AccessFixture.wrongSecret(for: fixture.adminA), fixture.revokedA.plaintext,
                    fixture.expiredA.plaintext,
                    "tss_" + String(repeating: "a", count: 43),
                ] {
                    let headers: HTTPFields = bad.map { [.authorization: "Bearer \($0)"] } ?? [:]
                    try await client.execute(uri: "/v1/auth/whoami", method: .get, headers: headers) { response in
                        #expect(response.status == .unauthorized)
                        #expect(response.headers[.wwwAuthenticate] == "Bearer")
                    }
                }
                try await client.execute(
                    uri: "/v1/auth/whoami", method: .get, headers: AccessFixture.bearer(fixture.viewerA.plaintext)
                ) {
                    response in
                    #expect(response.status == .ok)
                    let body = String(buffer: response.body)
                    #expect(body.contains("api_key"))
                    #expect(body.contains(fixture.orgA.uuidString.lowercased()))
                    #expect(body.contains("predictions.read"))
                }
            }
        }
    }
}
