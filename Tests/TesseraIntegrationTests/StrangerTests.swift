import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// What a stranger without credentials can write: a bounded number of records per address and window, each
/// with at most 512 bytes of the User-Agent they chose.
@Suite struct StrangerTests {
    static let logger = TestDatabase.logger

    @Test func requestsWithoutCredentialsAreCountedAggregatedAndTheirUserAgentTruncated() async throws {
        try await TestDatabase.withFresh(migrated: true) { base in
            var tuned = base
            tuned.auth.maxFailures = 5
            // A window the twelve requests fit in even when each takes a second under the whole suite's load.
            tuned.auth.failureWindowSeconds = 20
            let settings = tuned
            let app = try buildApplication(settings: settings, logger: Self.logger)
            let agent = String(repeating: "x", count: 50_000)
            @Sendable func records() async throws -> [(Int, String?, String?)] {
                try await settings.database.withConnection(as: .admin, logger: Self.logger) {
                    try await $0.query(
                        """
                        SELECT octet_length(user_agent), metadata->>'repeated', metadata->>'refused_429'
                        FROM audit_logs WHERE action = 'auth.failed' ORDER BY seq
                        """, logger: Self.logger
                    ).collect().map { try $0.decode((Int, String?, String?).self) }
                }
            }
            try await app.test(.router) { client in
                var statuses: [Int] = []
                for _ in 0..<12 {
                    let response = try await client.execute(
                        uri: "/v1/auth/whoami", method: .get, headers: [.userAgent: agent])
                    statuses.append(Int(response.status.code))
                }
                // Five failures, then 429 until the oldest leaves the window. Under the whole suite's load the
                // twelve requests may outlast it, so a late one may be a 401 again: counted, not timed.
                #expect(statuses.prefix(6) == [401, 401, 401, 401, 401, 429], "\(statuses)")
                let refused = statuses.filter { $0 == 429 }.count
                #expect(statuses.allSatisfy { $0 == 401 || $0 == 429 } && refused >= 1, "\(statuses)")
                // The first of a window at once; the rest, 429s included, in one record when the window closes.
                try await waitUntil(timeout: .seconds(60)) {
                    // A record of its own counts one failure; a summary, the failures it sums.
                    try await records().reduce(0) { $0 + ($1.1.flatMap { Int($0) } ?? 1) } == 12
                }
                let all = try await records()
                #expect(all.count <= 4 && all.allSatisfy { $0.0 == 512 }, "\(all)")
                #expect(all.compactMap { Int($0.2 ?? "") }.reduce(0, +) == refused, "\(all)")
            }
        }
    }

    /// Text PostgreSQL cannot store is the client's mistake: 400 naming the field, never a 500.
    @Test func aNULInTextIsA400NamingTheField() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let app = try buildApplication(settings: settings, logger: Self.logger)
            try await app.test(.router) { client in
                let headers: HTTPFields = [
                    .authorization: "Bearer \(fixture.adminA.plaintext)", .contentType: "application/json",
                ]
                let role = try await client.execute(
                    uri: "/v1/orgs/\(fixture.orgA)/roles", method: .post, headers: headers,
                    body: ByteBuffer(string: #"{"name":"r\u0000x","permissions":["predictions.read"]}"#))
                #expect(role.status == .badRequest, "\(String(buffer: role.body))")
                #expect(String(buffer: role.body).contains("name holds a NUL"))
                let nested = try await client.execute(
                    uri: "/v1/orgs/\(fixture.orgA)/members", method: .post, headers: headers,
                    body: ByteBuffer(string: #"{"email":"a@example.test","roles":["viewer","x\u0000"]}"#))
                #expect(nested.status == .badRequest && String(buffer: nested.body).contains("roles[1]"))
                // A query parameter reaches the database: refused there, as a 400 all the same.
                let query = try await client.execute(
                    uri: "/v1/audit-logs?entity_type=%00", method: .get,
                    headers: [.authorization: "Bearer \(fixture.platform.plaintext)"])
                #expect(query.status == .badRequest, "\(String(buffer: query.body))")
            }
        }
    }
}
