import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// The console through the router, with the credentials of `AccessFixture` in its cookie: it refuses as the API does
/// and records each refusal as the API does — at the chain (a missing permission) and past it (a grant beyond what
/// the caller holds, refused by the operation's own handler).
@Suite struct ConsoleAccessTests {
    @Test func refusalsOnConsolePagesAreRecordedAsTheAPIsAre() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let app = try buildApplication(settings: settings, logger: TestDatabase.logger)
            let masterKey = try #require(settings.tenants.masterKey.flatMap { Data(base64Encoded: $0.value) })
            let security = ConsoleSecurity(masterKey: masterKey, secure: false)
            func keysCreated() async throws -> Int {
                try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                    try await $0.query(
                        "SELECT count(*)::int FROM audit_logs WHERE action = 'api_key.create' AND org_id = \(fixture.orgA)",
                        logger: TestDatabase.logger
                    ).collect()[0].decode(Int.self)
                }
            }
            let before = try await keysCreated()
            try await app.test(.router) { client in
                func post(_ path: String, as key: APIKey, _ form: String) async throws -> TestResponse {
                    try await client.execute(
                        uri: path, method: .post,
                        headers: [
                            .cookie: "tessera_session=\(key.plaintext)",
                            .contentType: "application/x-www-form-urlencoded",
                        ],
                        body: ByteBuffer(string: form + "&csrf=\(security.csrf(for: key.plaintext))"))
                }
                let keys = "/console/orgs/\(fixture.orgA)/keys"
                // Past the chain: an admin may manage keys, but not issue an owner's.
                let beyond = try await post(keys, as: fixture.adminA, "name=w&role=owner")
                #expect(beyond.status == .forbidden)
                #expect(String(buffer: beyond.body).contains("nobody grants more than they hold"))
                // At the chain: a viewer may not manage keys at all.
                #expect(try await post(keys, as: fixture.viewerA, "name=w&role=viewer").status == .forbidden)
                // Without this session's CSRF token: refused before anything runs.
                let forged = try await client.execute(
                    uri: keys, method: .post,
                    headers: [
                        .cookie: "tessera_session=\(fixture.adminA.plaintext)",
                        .contentType: "application/x-www-form-urlencoded",
                    ],
                    body: ByteBuffer(string: "name=w&role=viewer&csrf=\(security.csrf(for: "another session"))"))
                #expect(forged.status == .forbidden)
                // A form past the console's 64 KiB: 413, not a failure of ours.
                let huge = try await post(keys, as: fixture.adminA, "name=" + String(repeating: "x", count: 70_000))
                #expect(huge.status == .contentTooLarge, "\(huge.status)")
                // Allowed: created, shown once.
                let made = try await post(keys, as: fixture.adminA, "name=worker&role=editor")
                #expect(made.status == .created && String(buffer: made.body).contains("tsk_"))
                #expect(made.headers[.contentSecurityPolicy]?.contains("unsafe-inline") == false)
            }
            let denials = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                try await $0.query(
                    """
                    SELECT entity_id, metadata->>'permission', metadata->>'detail' FROM audit_logs
                    WHERE action = 'access.denied' AND org_id = \(fixture.orgA) ORDER BY seq
                    """, logger: TestDatabase.logger
                ).collect().map { try $0.decode((String, String?, String?).self) }
            }
            #expect(denials.count == 2, "\(denials)")
            #expect(denials.allSatisfy { $0.0 == "POST /console/orgs/\(fixture.orgA)/keys" }, "\(denials)")
            #expect(denials.first?.2?.contains("nobody grants more than they hold") == true)
            #expect(denials.last?.1 == "keys.manage")
            #expect(try await keysCreated() == before + 1, "the one key the console made is audited, once")
        }
    }

    /// Quotas from the org page: a platform admin sets them (empty is no limit; a negative one is refused with
    /// nothing written), an org's owner may not, and the change is the API's audited `org.quotas_set`.
    @Test func aPlatformAdminSetsQuotasFromTheOrgPage() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let platform = fixture.platform
            let app = try buildApplication(settings: settings, logger: TestDatabase.logger)
            let masterKey = try #require(settings.tenants.masterKey.flatMap { Data(base64Encoded: $0.value) })
            let security = ConsoleSecurity(masterKey: masterKey, secure: false)
            func quotasSet() async throws -> [String] {
                try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                    try await $0.query(
                        """
                        SELECT metadata->>'quotas' FROM audit_logs
                        WHERE action = 'org.quotas_set' AND org_id = \(fixture.orgA) ORDER BY seq
                        """, logger: TestDatabase.logger
                    ).collect().map { try $0.decode(String.self) }
                }
            }
            try await app.test(.router) { client in
                let page = "/console/orgs/\(fixture.orgA)"
                func post(as key: APIKey, _ form: String) async throws -> TestResponse {
                    try await client.execute(
                        uri: page + "/quotas", method: .post,
                        headers: [
                            .cookie: "tessera_session=\(key.plaintext)",
                            .contentType: "application/x-www-form-urlencoded",
                        ],
                        body: ByteBuffer(string: form + "&csrf=\(security.csrf(for: key.plaintext))"))
                }
                func view(as key: APIKey) async throws -> String {
                    String(
                        buffer: try await client.execute(
                            uri: page, method: .get, headers: [.cookie: "tessera_session=\(key.plaintext)"]
                        ).body)
                }
                #expect(
                    try await view(as: platform).contains(
                        #"action="/console/orgs/\#(fixture.orgA.uuidString.lowercased())/quotas""#))
                #expect(try await !view(as: fixture.ownerA).contains("Save quotas"))

                let saved = try await post(as: platform, "members=5&api_keys=&dataset_rows=1000")
                #expect(saved.status == .seeOther && saved.headers[.location] == page)
                let shown = try await view(as: platform)
                #expect(shown.contains(#"<dt>members</dt><dd>5</dd>"#) && shown.contains(#"value="1000""#))
                #expect(shown.contains(#"<dt>api_keys</dt><dd>no limit</dd>"#))

                let negative = try await post(as: platform, "members=-1")
                #expect(negative.status == .unprocessableContent)
                #expect(try await post(as: fixture.ownerA, "members=50").status == .forbidden)
            }
            let changes = try await quotasSet()
            #expect(changes.count == 1, "\(changes)")
            #expect(
                changes.first?.contains(#""members": 5"#) == true || changes.first?.contains(#""members":5"#) == true)
        }
    }
}
