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
        let invitation_token: String?
    }

    /// A fixture plus a user `owner@example.test` who is org A's only owner, with `password`.
    func withApp(_ body: @escaping @Sendable (AccessFixture, any TestClientProtocol) async throws -> Void) async throws
    {
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
            try await app.test(.router) { client in try await body(fixture, client) }
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
        try await withApp { fixture, client in
            let added = try await client.execute(
                uri: "/v1/orgs/\(fixture.orgA)/members", method: .post,
                headers: Self.json(bearer: fixture.adminA.plaintext),
                body: ByteBuffer(string: #"{"email":"new@example.test","roles":["editor"]}"#))
            #expect(added.status == .created)
            let body = try JSONDecoder().decode(Added.self, from: Data(buffer: added.body))
            #expect(body.user_created)
            #expect(body.member.roles == ["editor"])
            let invitation = try #require(body.invitation_token)
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

    @Test func escalationAttemptsAreRefused() async throws {
        try await withApp { fixture, client in
            let members = "/v1/orgs/\(fixture.orgA)/members"
            // An admin may not grant owner (orgs.manage), nor make a role with it.
            try await client.execute(
                uri: members, method: .post, headers: Self.json(bearer: fixture.adminA.plaintext),
                body: ByteBuffer(
                    string: #"{"email":"x@example.test","roles":["owner"],"password":"long enough password"}"#)
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
                    string: #"{"email":"second@example.test","roles":["owner"],"password":"long enough password"}"#)
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
