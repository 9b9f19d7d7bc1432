import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
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

/// The NDJSON export writes its lines from the database's columns by hand; they must be, byte for byte, what the
/// encoder writes for the same records (which the list route and the previous export wrote).
@Suite struct AuditExportLineTests {
    static let logger = TestDatabase.logger

    @Test func exportLinesAreByteForByteWhatTheEncoderWrites() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let org = UUID()
            var generator = SystemRandomNumberGenerator()
            let alphabet = Array("AZaz09_.-~ /")
            func word() -> String {
                String(
                    (0..<Int.random(in: 1...6, using: &generator)).map { _ in alphabet.randomElement(using: &generator)!
                    })
            }
            // Every control character but NUL (which text cannot hold), quotes, backslashes, slashes, non-ASCII.
            let awkward =
                String((1..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }) + #"\"/é"# + "\u{2028}😀\u{7F}"
            var events = [
                AuditEvent(
                    org: org, actorKind: .apiKey, actorID: UUID(), actorDisplay: awkward, action: .datasetCreate,
                    entityType: "", entityID: awkward, requestID: "r", clientIP: "::1", userAgent: awkward,
                    metadata: ["B": "1", "a": "", "_x": awkward, "a10": "é", "a9": "/"]),
                AuditEvent(org: org, actorKind: .system, action: .rowsImport, metadata: ["ünï": "cødé", "z": "1"]),
                AuditEvent(org: nil, actorKind: .platformAdmin, action: .authFailed, outcome: .denied),
                AuditEvent(org: org, actorKind: .user, action: .modelCreate, outcome: .failed, metadata: [:]),
            ]
            for _ in 0..<200 {
                var metadata: [String: String] = [:]
                for _ in 0..<Int.random(in: 0...5, using: &generator) { metadata[word()] = word() }
                events.append(AuditEvent(org: org, actorKind: .apiKey, action: .promptCreate, metadata: metadata))
            }
            try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                for event in events { try await AuditStore(logger: Self.logger).append(event, on: connection) }
                // Metadata the API never writes but a database may hold (not all text), and dates at the edges of
                // a second and of the years written by hand.
                for (time, metadata) in [
                    ("1999-12-31 23:59:59.999999+00", #"{"n": 5, "b": true, "o": {"x": "y"}}"#),
                    ("2026-11-30 12:00:00.5+00", "{}"), ("1970-01-01 00:00:00+00", #"{"a": null}"#),
                    ("1650-06-01 10:00:00+00", #"{"k": "v"}"#), ("0500-01-01 10:00:00+00", #"{"k": "v"}"#),
                    ("12000-01-01 10:00:00+00", #"{"k": "v"}"#),
                ] {
                    try await connection.query(
                        """
                        INSERT INTO audit_logs (event_id, org_id, occurred_at, actor_kind, action, outcome, metadata)
                        VALUES (\(UUID()), \(org), \(time)::timestamptz, 'system', 'dataset.create', 'succeeded',
                                \(metadata)::jsonb)
                        """, logger: Self.logger)
                }
            }
            for scope in [AuditFilter.Scope.org(org), .platform, .all] {
                let filter = AuditFilter(scope: scope)
                try await settings.database.withConnection(as: .gateway, logger: Self.logger) { connection in
                    let records = try await AuditStore(logger: Self.logger).list(
                        filter, after: nil, limit: 1_000, on: connection)
                    let page = try await AuditExport.ndjsonPage(
                        filter, after: nil, limit: 1_000, on: connection, logger: Self.logger)
                    #expect(records.count > 0)
                    // Metadata read back is what was appended (the reader skips Foundation's parser when it can).
                    let appended = Dictionary(uniqueKeysWithValues: events.map { ($0.eventID, $0.metadata) })
                    for record in records where appended[record.eventID] != nil {
                        #expect(record.metadata == appended[record.eventID])
                    }
                    #expect(page.count == records.count)
                    #expect(page.last == records.last.map { AuditStore.cursor(of: $0, in: scope) })
                    let expected = try records.map { try ExportLines.ndjson(AuditLogsController.schema($0)) }
                    let lines = page.lines.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
                    #expect(lines.count == expected.count)
                    for (line, want) in zip(lines, expected) {
                        #expect(String(decoding: line, as: UTF8.self) + "\n" == String(decoding: want, as: UTF8.self))
                    }
                }
            }
        }
    }
}
