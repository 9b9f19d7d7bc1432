import Foundation
import PostgresNIO
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// Many requests bringing one credential at once cost the metadata database one look-up, not one each.
@Suite struct CredentialLookupTests {
    static let logger = TestDatabase.logger

    @Test func concurrentRequestsForOneCredentialShareOneLookUp() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            let fixture = try await AccessFixture.make(settings)
            let client = PostgresClient(
                configuration: settings.database.clientConfiguration(as: .gateway), backgroundLogger: Self.logger)
            let runner = Task { await client.run() }
            defer { runner.cancel() }
            let authenticator = Authenticator(
                client: client, cache: CredentialCache(ttl: .seconds(60)),
                limiter: FailureLimiter(threshold: 1000, window: .seconds(60)),
                lastUsed: LastUsedRecorder(client: client, interval: .seconds(60), logger: Self.logger),
                failures: AuthFailureHook(client: client, window: .seconds(60), logger: Self.logger),
                deadline: .seconds(10), logger: Self.logger)

            // 32 requests with a valid key, all at once: every one verified, one look-up.
            let valid = await Self.verifyAtOnce(authenticator, "Bearer \(fixture.viewerA.plaintext)", times: 32)
            #expect(valid.count == 32 && valid.allSatisfy { $0 == nil })
            #expect(authenticator.keyLookups.started == 1)

            // A well-formed key nobody issued (not cached: each arrival looks it up), 32 at once: all unknown,
            // in shared look-ups (at most half as many as the requests, 32 without sharing).
            let stranger = APIKey.generate()
            let unknown = await Self.verifyAtOnce(authenticator, "Bearer \(stranger.plaintext)", times: 32)
            #expect(unknown.count == 32 && unknown.allSatisfy { $0 == .unknown })
            #expect((2...17).contains(authenticator.keyLookups.started), "\(authenticator.keyLookups.started)")
        }
    }

    /// The failure of each of `times` concurrent verifications (nil for a success).
    static func verifyAtOnce(_ authenticator: Authenticator, _ header: String, times: Int) async
        -> [Authenticator.Failure?]
    {
        await withTaskGroup(of: Authenticator.Failure?.self) { group in
            for _ in 0..<times {
                group.addTask {
                    switch await authenticator.verify(header) {
                    case .success: nil
                    case .failure(let failure): failure
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }
}
