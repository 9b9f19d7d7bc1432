import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraGateway

@Suite struct SessionAndMemberTests {
    static let password = "correct horse battery staple"

    struct Session: Decodable { let token: String }
    struct Whoami: Decodable {
        struct Org: Decodable {
            let org_id: String
            let permissions: [String]
        }
        let kind: String
        let orgs: [Org]
    }
    struct Added: Decodable {
        struct Member: Decodable {
            let user_id: String
            let roles: [String]
        }
        let member: Member
        let user_created: Bool
        let invited: Bool
    }

    /// A fixture plus a user `owner@example.test` who is org A's only owner, with `password`.
    func withApp(_ body: @escaping @Sendable (AccessFixture, any TestClientProtocol) async throws -> Void) async throws
    {
        try await withApp { fixture, client, _ in try await body(fixture, client) }
    }

    /// The same, with the test's settings (to read its mail).
    func withApp(
        _ body: @escaping @Sendable (AccessFixture, any TestClientProtocol, Settings) async throws -> Void
    ) async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) { connection in
                let hash = try PasswordHasher().hash(Self.password)
                let (user, _) = try await UserStore(logger: TestDatabase.logger).findOrCreate(
                    email: "owner@example.test", passwordHash: hash, on: connection)
                let owner = try await RoleStore(logger: TestDatabase.logger).role(
                    named: "owner", org: fixture.orgA, on: connection)!
                _ = try await MemberStore(logger: TestDatabase.logger).add(
                    org: fixture.orgA, user: user, roles: [owner.id], invitedBy: nil, on: connection)
            }
            let app = try buildApplication(settings: settings, logger: TestDatabase.logger)
            try await app.test(.router) { client in try await body(fixture, client, settings) }
        }
    }

    static func json(_ headers: HTTPFields = [:], bearer: String? = nil) -> HTTPFields {
        var h = headers
        h[.contentType] = "application/json"
        if let bearer { h[.authorization] = "Bearer \(bearer)" }
        return h
    }

    func login(_ client: some TestClientProtocol, _ email: String, _ password: String) async throws -> TestResponse {
        try await client.execute(
            uri: "/v1/auth/login", method: .post, headers: Self.json(),
            body: ByteBuffer(string: #"{"email":"\#(email)","password":"\#(password)"}"#))
    }

    @Test func loginGivesASessionThatActsWithTheUsersRolesUntilLogout() async throws {
        try await withApp { fixture, client in
            #expect(try await login(client, "owner@example.test", "wrong password!").status == .unauthorized)
            #expect(try await login(client, "nobody@example.test", Self.password).status == .unauthorized)
            let response = try await login(client, "OWNER@example.test", Self.password)
            #expect(response.status == .ok)
            let token = try JSONDecoder().decode(Session.self, from: Data(buffer: response.body)).token
            #expect(token.hasPrefix("tss_"))
            let who = try JSONDecoder().decode(
                Whoami.self,
                from: Data(
                    buffer: try await client.execute(
                        uri: "/v1/auth/whoami", method: .get, headers: Self.json(bearer: token)
                    ).body))
            #expect(who.kind == "user")
            #expect(who.orgs.map(\.org_id) == [fixture.orgA.uuidString.lowercased()])
            #expect(who.orgs.first?.permissions.contains("orgs.manage") == true)
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/members", method: .get, headers: Self.json(bearer: token)
            ) {
                #expect($0.status == .ok)
            }
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgB)/members", method: .get, headers: Self.json(bearer: token)
            ) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: "/v1/auth/logout", method: .post, headers: Self.json(bearer: token)) {
                #expect($0.status == .noContent)
            }
            try await waitUntil {
                try await client.execute(uri: "/v1/auth/whoami", method: .get, headers: Self.json(bearer: token)) {
                    $0.status
                }
                    == .unauthorized
            }
            // An API key has no session to end.
            try await client.execute(
                uri: "/v1/auth/logout", method: .post, headers: Self.json(bearer: fixture.adminA.plaintext)
            ) {
                #expect($0.status == .badRequest)
            }
        }
    }

    @Test func invitedMemberSetsAPasswordOnce() async throws {
        try await withApp { fixture, client, settings in
            let added = try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/members", method: .post,
                headers: Self.json(bearer: fixture.adminA.plaintext),
                body: ByteBuffer(string: #"{"email":"new@example.test","roles":["editor"]}"#))
            #expect(added.status == .created)
            let body = try JSONDecoder().decode(Added.self, from: Data(buffer: added.body))
            #expect(body.user_created)
            #expect(body.member.roles == ["editor"])
            #expect(body.invited)
            // The token is in the mailbox, never in the answer.
            #expect(TestMail.tokens(in: String(buffer: added.body)).isEmpty)
            let invitation = try await TestMail.invitationToken(for: "new@example.test", settings)
            let accept = #"{"token":"\#(invitation)","password":"a new long password"}"#
            try await client.execute(
                uri: "/v1/auth/invitations/accept", method: .post, headers: Self.json(),
                body: ByteBuffer(string: accept)
            ) {
                #expect($0.status == .noContent)
            }
            try await client.execute(
                uri: "/v1/auth/invitations/accept", method: .post, headers: Self.json(),
                body: ByteBuffer(string: accept)
            ) {
                #expect($0.status == .unauthorized)  // used up
            }
            #expect(try await login(client, "new@example.test", "a new long password").status == .ok)
            // Adding the same person again is a conflict.
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/members", method: .post,
                headers: Self.json(bearer: fixture.adminA.plaintext),
                body: ByteBuffer(string: #"{"email":"new@example.test","roles":["viewer"]}"#)
            ) { #expect($0.status == .conflict) }
        }
    }

    /// The takeover this closes: an org admin who could set a new member's password (or read their invitation
    /// from the answer) owned that account in every org it later joined. Now nobody sets another person's
    /// password, the token goes only to the mailbox, and an invitation never re-keys an account.
    @Test func anInviterCannotTakeOverAnAccount() async throws {
        try await withApp { fixture, client, settings in
            let asAdminA = Self.json(bearer: fixture.adminA.plaintext)
            let membersA = "/v1/orgs/\(fixture.orgA)/members"
            // Choosing the new member's password is refused, and nothing is created.
            try await client.execute(
                uri: membersA, method: .post, headers: asAdminA,
                body: ByteBuffer(
                    string: #"{"email":"victim@example.test","roles":["viewer"],"password":"chosen by the inviter"}"#)
            ) { #expect($0.status == .badRequest) }
            #expect(try await TestMail.messages(to: "victim@example.test", settings).isEmpty)
            // Added without one: the answer carries no token; the mailbox does.
            let added = try await client.execute(
                uri: membersA, method: .post, headers: asAdminA,
                body: ByteBuffer(string: #"{"email":"victim@example.test","roles":["viewer"]}"#))
            #expect(added.status == .created)
            #expect(TestMail.tokens(in: String(buffer: added.body)).isEmpty)
            let fromA = try await TestMail.invitationToken(for: "victim@example.test", settings)
            // Org B adds them too before they accept: a new invitation of its own.
            let fromB = try await client.execute(
                uri: "/v1/orgs/\(fixture.orgB)/members", method: .post,
                headers: Self.json(bearer: fixture.adminB.plaintext),
                body: ByteBuffer(string: #"{"email":"victim@example.test","roles":["viewer"]}"#))
            #expect(fromB.status == .created)
            let tokenB = try await TestMail.invitationToken(for: "victim@example.test", settings)
            #expect(tokenB != fromA)
            // The person accepts org B's invitation from their mailbox.
            try await client.execute(
                uri: "/v1/auth/invitations/accept", method: .post, headers: Self.json(),
                body: ByteBuffer(string: #"{"token":"\#(tokenB)","password":"the owner's own password"}"#)
            ) { #expect($0.status == .noContent) }
            // Org A's invitation, had it leaked, no longer sets a password: the account has one.
            try await client.execute(
                uri: "/v1/auth/invitations/accept", method: .post, headers: Self.json(),
                body: ByteBuffer(string: #"{"token":"\#(fromA)","password":"the inviter's password"}"#)
            ) { #expect($0.status == .unauthorized) }
            #expect(try await login(client, "victim@example.test", "the inviter's password").status == .unauthorized)
            #expect(try await login(client, "victim@example.test", "the owner's own password").status == .ok)
            // Someone with a password who joins another org gets a notice, no token: they sign in as before.
            let notice = try await client.execute(
                uri: "/v1/orgs/\(fixture.orgB)/members", method: .post,
                headers: Self.json(bearer: fixture.adminB.plaintext),
                body: ByteBuffer(string: #"{"email":"owner@example.test","roles":["viewer"]}"#))
            #expect(try JSONDecoder().decode(Added.self, from: Data(buffer: notice.body)).invited == false)
            let ownerMail = try await TestMail.messages(to: "owner@example.test", settings)
            #expect(ownerMail.count == 1 && ownerMail[0].contains("X-Tessera-Kind: membership"))
            #expect(TestMail.tokens(in: ownerMail.joined()).isEmpty)
            #expect(try await login(client, "owner@example.test", Self.password).status == .ok)
            // Platform admins see the outbox: what went to whom and how it fared, never a body or a token.
            let outbox = try await client.execute(
                uri: "/v1/mail?limit=10", method: .get, headers: Self.json(bearer: fixture.platform.plaintext))
            #expect(outbox.status == .ok)
            struct Outbox: Decodable {
                struct Message: Decodable {
                    let kind: String
                    let recipient: String
                    let status: String
                }
                let items: [Message]
            }
            let listed = try JSONDecoder().decode(Outbox.self, from: Data(buffer: outbox.body)).items
            #expect(
                listed.filter { $0.recipient == "victim@example.test" }.map(\.kind) == ["invitation", "invitation"])
            #expect(listed.allSatisfy { $0.status == "sent" })
            #expect(TestMail.tokens(in: String(buffer: outbox.body)).isEmpty)
            try await client.execute(
                uri: "/v1/mail", method: .get, headers: Self.json(bearer: fixture.adminA.plaintext)
            ) {
                #expect($0.status == .forbidden)
            }
        }
    }

    /// A reset is asked for alike for any address; the token reaches only the mailbox, works once within 30
    /// minutes, and using it ends every session of the account.
    @Test func aPasswordResetGoesByMailWorksOnceAndEndsEverySession() async throws {
        try await withApp { fixture, client, settings in
            let session = try JSONDecoder().decode(
                Session.self, from: Data(buffer: try await login(client, "owner@example.test", Self.password).body)
            ).token
            func request(_ email: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/auth/password-reset", method: .post, headers: Self.json(),
                    body: ByteBuffer(string: #"{"email":"\#(email)"}"#))
            }
            let known = try await request("OWNER@example.test")
            let unknown = try await request("nobody@example.test")
            #expect(known.status == .accepted && unknown.status == .accepted)
            #expect(known.body == unknown.body)
            _ = try await request("owner@example.test")  // asked twice within a minute: one message
            let mailbox = try await TestMail.messages(to: "owner@example.test", settings)
            #expect(mailbox.count == 1)
            let token = try #require(TestMail.tokens(in: mailbox.joined()).first)
            let nobody = try await TestMail.messages(to: "nobody@example.test", settings)
            #expect(nobody.count == 1 && nobody[0].contains("there is no") && TestMail.tokens(in: nobody[0]).isEmpty)

            func confirm(_ token: String, _ password: String) async throws -> HTTPResponse.Status {
                try await client.execute(
                    uri: "/v1/auth/password-reset/confirm", method: .post, headers: Self.json(),
                    body: ByteBuffer(string: #"{"token":"\#(token)","password":"\#(password)"}"#)
                ).status
            }
            #expect(try await confirm(token, "short") == .unprocessableContent)
            #expect(
                try await confirm("tss_" + String(repeating: "x", count: 43), "a brand new password") == .unauthorized)
            #expect(try await confirm(token, "a brand new password") == .noContent)
            #expect(try await confirm(token, "yet another password") == .unauthorized)  // once
            try await waitUntil {
                try await client.execute(uri: "/v1/auth/whoami", method: .get, headers: Self.json(bearer: session)) {
                    $0.status
                } == .unauthorized
            }
            #expect(try await login(client, "owner@example.test", Self.password).status == .unauthorized)
            #expect(try await login(client, "owner@example.test", "a brand new password").status == .ok)
            let actions = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                try await $0.query(
                    "SELECT action FROM audit_logs WHERE action LIKE 'password_reset.%' ORDER BY seq",
                    logger: TestDatabase.logger
                ).collect().map { try $0.decode(String.self) }
            }
            #expect(
                actions == [
                    "password_reset.request", "password_reset.request", "password_reset.request",
                    "password_reset.complete",
                ])
            _ = fixture
        }
    }

    @Test func escalationAttemptsAreRefused() async throws {
        try await withApp { fixture, client in
            let members = "/v1/orgs/\(fixture.orgA)/members"
            // An admin may not grant owner (orgs.manage), nor make a role with it.
            try await client.execute(
                uri: members, method: .post, headers: Self.json(bearer: fixture.adminA.plaintext),
                body: ByteBuffer(
                    string: #"{"email":"x@example.test","roles":["owner"]}"#)
            ) { #expect($0.status == .forbidden) }
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/roles", method: .post,
                headers: Self.json(bearer: fixture.adminA.plaintext),
                body: ByteBuffer(string: #"{"name":"almighty","permissions":["orgs.manage"]}"#)
            ) { #expect($0.status == .forbidden) }
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/roles", method: .post,
                headers: Self.json(bearer: fixture.adminA.plaintext),
                body: ByteBuffer(string: #"{"name":"odd","permissions":["keys.steal"]}"#)
            ) { #expect($0.status == .unprocessableContent) }
            // Nor may an admin demote or remove the owner, who holds more than the admin.
            let owner = try await ownerID(client, fixture)
            try await client.execute(
                uri: "\(members)/\(owner)", method: .put, headers: Self.json(bearer: fixture.adminA.plaintext),
                body: ByteBuffer(string: #"{"roles":["viewer"]}"#)
            ) { #expect($0.status == .forbidden) }
            try await client.execute(
                uri: "\(members)/\(owner)", method: .delete, headers: Self.json(bearer: fixture.adminA.plaintext)
            ) {
                #expect($0.status == .forbidden)
            }
            // A viewer key cannot touch members at all.
            try await client.execute(uri: members, method: .get, headers: Self.json(bearer: fixture.viewerA.plaintext))
            {
                #expect($0.status == .forbidden)
            }
        }
    }

    @Test func theLastOwnerStays() async throws {
        try await withApp { fixture, client in
            let members = "/v1/orgs/\(fixture.orgA)/members"
            let owner = try await ownerID(client, fixture)
            let asOwner = Self.json(bearer: fixture.ownerA.plaintext)
            try await client.execute(uri: "\(members)/\(owner)", method: .delete, headers: asOwner) {
                #expect($0.status == .conflict)
            }
            try await client.execute(
                uri: "\(members)/\(owner)", method: .put, headers: asOwner,
                body: ByteBuffer(string: #"{"roles":["admin"]}"#)
            ) { #expect($0.status == .conflict) }
            // With a second owner, the first may step down.
            try await client.execute(
                uri: members, method: .post, headers: asOwner,
                body: ByteBuffer(
                    string: #"{"email":"second@example.test","roles":["owner"]}"#)
            ) { #expect($0.status == .created) }
            try await client.execute(
                uri: "\(members)/\(owner)", method: .put, headers: asOwner,
                body: ByteBuffer(string: #"{"roles":["admin"]}"#)
            ) { #expect($0.status == .ok) }
        }
    }

    @Test func systemAndUsedRolesCannotBeDeleted() async throws {
        struct Role: Decodable {
            let id: String
            let name: String
            let system: Bool
        }
        struct Roles: Decodable { let items: [Role] }
        try await withApp { fixture, client in
            let asOwner = Self.json(bearer: fixture.ownerA.plaintext)
            let roles = try JSONDecoder().decode(
                Roles.self,
                from: Data(
                    buffer: try await client.execute(
                        uri: "/v1/orgs/\(fixture.orgA)/roles", method: .get, headers: asOwner
                    ).body))
            #expect(Set(roles.items.filter(\.system).map(\.name)) == ["owner", "admin", "editor", "viewer", "auditor"])
            let viewer = try #require(roles.items.first { $0.name == "viewer" })
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/roles/\(viewer.id)", method: .delete, headers: asOwner
            ) {
                #expect($0.status == .conflict)
            }
            let created = try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/roles", method: .post, headers: asOwner,
                body: ByteBuffer(string: #"{"name":"reader","permissions":["predictions.read","tasks.read"]}"#))
            #expect(created.status == .created)
            let reader = try JSONDecoder().decode(Role.self, from: Data(buffer: created.body))
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/api-keys", method: .post, headers: asOwner,
                body: ByteBuffer(string: #"{"name":"r","role":"reader"}"#)
            ) { #expect($0.status == .created) }
            try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/roles/\(reader.id)", method: .delete, headers: asOwner
            ) {
                #expect($0.status == .conflict)
            }
        }
    }

    struct Members: Decodable { let items: [Added.Member] }

    func ownerID(_ client: some TestClientProtocol, _ fixture: AccessFixture) async throws -> String {
        let list = try JSONDecoder().decode(
            Members.self,
            from: Data(
                buffer: try await client.execute(
                    uri: "/v1/orgs/\(fixture.orgA)/members", method: .get,
                    headers: Self.json(bearer: fixture.ownerA.plaintext)
                ).body))
        return try #require(list.items.first { $0.roles.contains("owner") }?.user_id)
    }
}
