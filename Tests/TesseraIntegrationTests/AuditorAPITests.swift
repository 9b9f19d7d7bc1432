import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraGateway

@Suite struct AuditorAPITests {
    struct Page: Decodable {
        struct Item: Decodable {
            let seq: Int64
            let action: String
            let outcome: String
            let actor_id: String?
            let hash: String
        }
        let items: [Item]
        let next_cursor: String?
    }
    struct Verdict: Decodable {
        let intact: Bool
        let verified: Int
        let broken_seq: Int64?
    }

    @Test func auditorsFilterPageExportAndVerify() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let app = try buildApplication(settings: settings, logger: TestDatabase.logger)
            try await app.test(.router) { client in
                let admin: HTTPFields = [
                    .authorization: "Bearer \(fixture.adminA.plaintext)", .contentType: "application/json",
                ]
                let auditor: HTTPFields = [.authorization: "Bearer \(fixture.auditorA.plaintext)"]
                let base = "/v1/orgs/\(fixture.orgA)/audit-logs"
                for i in 0..<7 {
                    #expect(
                        try await client.execute(
                            uri: "/v1/orgs/\(fixture.orgA)/api-keys", method: .post, headers: admin,
                            body: ByteBuffer(string: #"{"name":"k\#(i)","role":"viewer"}"#)
                        ).status == .created)
                }
                // A denial in org A, and activity in org B that A's auditor never sees.
                #expect(
                    try await client.execute(uri: "/v1/orgs/\(fixture.orgA)/members", method: .get, headers: auditor)
                        .status == .forbidden)
                #expect(
                    try await client.execute(
                        uri: "/v1/orgs/\(fixture.orgB)/api-keys", method: .post,
                        headers: [
                            .authorization: "Bearer \(fixture.adminB.plaintext)", .contentType: "application/json",
                        ],
                        body: ByteBuffer(string: #"{"name":"b","role":"viewer"}"#)
                    ).status == .created)

                // Paging by 3 with a prefix filter: each record once, in chain order.
                var seen: [Int64] = []
                var cursor: String?
                repeat {
                    let uri = "\(base)?action=api_key.*&limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let response = try await client.execute(uri: uri, method: .get, headers: auditor)
                    #expect(response.status == .ok)
                    let page = try JSONDecoder().decode(Page.self, from: Data(buffer: response.body))
                    #expect(page.items.allSatisfy { $0.action == "api_key.create" })
                    seen += page.items.map(\.seq)
                    cursor = page.next_cursor
                } while cursor != nil
                #expect(seen.count == 7)
                #expect(seen == seen.sorted())
                let denied = try JSONDecoder().decode(
                    Page.self,
                    from: Data(
                        buffer: try await client.execute(uri: "\(base)?outcome=denied", method: .get, headers: auditor)
                            .body))
                #expect(denied.items.map(\.action) == ["access.denied"])
                #expect(
                    try await client.execute(uri: "\(base)?limit=1001", method: .get, headers: auditor).status
                        == .badRequest)
                // Export: every record of the chain, as NDJSON and as CSV.
                let ndjson = String(
                    buffer: try await client.execute(uri: "\(base)/export", method: .get, headers: auditor).body)
                #expect(ndjson.split(separator: "\n").count == 8)
                let csv = try await client.execute(uri: "\(base)/export?format=csv", method: .get, headers: auditor)
                #expect(csv.headers[.contentType] == "text/csv")
                let lines = String(buffer: csv.body).split(separator: "\n")
                #expect(lines.first?.hasPrefix("seq,occurred_at,actor_kind") == true)
                #expect(lines.count == 9)
                // Verify: intact, until a superuser edits a record.
                let intact = try JSONDecoder().decode(
                    Verdict.self,
                    from: Data(
                        buffer: try await client.execute(uri: "\(base)/verify", method: .get, headers: auditor).body))
                #expect(intact.intact && intact.verified == 8)
                try AuditLogTests().superuser(
                    settings,
                    """
                    ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update_delete;
                    UPDATE audit_logs SET outcome = 'failed' WHERE org_id = '\(fixture.orgA)' AND seq = 5;
                    """)
                let broken = try JSONDecoder().decode(
                    Verdict.self,
                    from: Data(
                        buffer: try await client.execute(uri: "\(base)/verify", method: .get, headers: auditor).body))
                #expect(!broken.intact && broken.broken_seq == 5 && broken.verified == 4)
                // A viewer may not read the log; a platform admin reads across orgs.
                #expect(
                    try await client.execute(
                        uri: base, method: .get, headers: [.authorization: "Bearer \(fixture.viewerA.plaintext)"]
                    )
                    .status == .forbidden)
                let all = try JSONDecoder().decode(
                    Page.self,
                    from: Data(
                        buffer: try await client.execute(
                            uri: "/v1/audit-logs?action=api_key.create&limit=1000", method: .get,
                            headers: [.authorization: "Bearer \(fixture.platform.plaintext)"]
                        ).body))
                #expect(all.items.count == 8)
            }
        }
    }

    @Test func csvFieldsAreEscaped() {
        #expect(ExportLines.field("plain") == "plain")
        #expect(ExportLines.field("a,b") == "\"a,b\"")
        #expect(ExportLines.field("say \"hi\"\nbye") == "\"say \"\"hi\"\"\nbye\"")
        // CRLF is one Character in Swift: compared as bytes, it is quoted like CR and LF alone.
        #expect(ExportLines.field("a\r\nb") == "\"a\r\nb\"")
        #expect(ExportLines.field("a\rb") == "\"a\rb\"")
        // Formulas are neutralised; numbers stay numbers.
        #expect(ExportLines.field("=HYPERLINK(\"http://x\")") == "\"'=HYPERLINK(\"\"http://x\"\")\"")
        #expect(ExportLines.field("@SUM(A1)") == "'@SUM(A1)")
        #expect(ExportLines.field("+1+2") == "'+1+2")
        #expect(ExportLines.field("-0.25") == "-0.25" && ExportLines.field("+3") == "+3")
    }
}
