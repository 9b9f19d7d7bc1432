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

    @Test func requestsWithoutCredentialsAreCountedAndTheirUserAgentTruncated() async throws {
        try await TestDatabase.withFresh(migrated: true) { base in
            var tuned = base
            tuned.auth.maxFailures = 5
            let settings = tuned
            let app = try buildApplication(settings: settings, logger: Self.logger)
            let agent = String(repeating: "x", count: 50_000)
            try await app.test(.router) { client in
                var statuses: [Int] = []
                for _ in 0..<12 {
                    let response = try await client.execute(
                        uri: "/v1/auth/whoami", method: .get, headers: [.userAgent: agent])
                    statuses.append(Int(response.status.code))
                }
                #expect(statuses == Array(repeating: 401, count: 5) + Array(repeating: 429, count: 7), "\(statuses)")
            }
            let stored = try await settings.database.withConnection(as: .admin, logger: Self.logger) {
                try await $0.query(
                    "SELECT octet_length(user_agent) FROM audit_logs WHERE action = 'auth.failed'", logger: Self.logger
                ).collect().map { try $0.decode(Int.self) }
            }
            #expect(stored == Array(repeating: 512, count: 5), "\(stored)")
        }
    }
}
