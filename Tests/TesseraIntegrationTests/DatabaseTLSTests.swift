import Foundation
import PostgresNIO
import TesseraCore
import TesseraPostgres
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `database.tls: verify-full` with `database.tls_ca_file`, against cluster b, which provisioning/test starts
/// serving TLS with a certificate for localhost from a CA of its own: connections are encrypted and made only to
/// a server whose certificate chains to that CA, both the settings' own and a registered server's (what
/// provisioning uses); a host given as an address is refused before anything is sent.
@Suite struct DatabaseTLSTests {
    static let logger = TestDatabase.logger

    @Test func verifyFullReachesOnlyAServerWhoseCertificateChainsToTheCA() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let port = environment["TESSERA_TEST_SERVER_B_PORT"].flatMap(Int.init),
            let password = environment["TESSERA_TEST_SERVER_B_ADMIN_PASSWORD"],
            let ca = environment["TESSERA_TEST_SERVER_B_TLS_CA_FILE"]
        else {
            Issue.record("TESSERA_TEST_SERVER_B_* are not set: run the tests through provisioning/test")
            return
        }
        var settings = try TestDatabase.settings(database: "postgres")
        settings.database.host = "localhost"
        settings.database.port = port
        settings.database.adminPassword = Secret(password)
        settings.database.tls = .init(mode: .verifyFull, caFile: ca)
        let encrypted = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

        let direct = try await settings.database.withConnection(as: .admin, database: "postgres", logger: Self.logger) {
            try await $0.query(PostgresQuery(unsafeSQL: encrypted), logger: Self.logger).collect()[0].decode(Bool.self)
        }
        #expect(direct)
        func server(_ host: String, _ tls: Settings.DatabaseTLS) -> ServerConnection {
            ServerConnection(
                id: UUID(), name: "b", host: host, port: port, adminUser: settings.database.adminUser,
                adminPassword: password, tls: tls)
        }
        let registered = try await server("localhost", settings.database.tls).withAdminConnection(
            database: "postgres", logger: Self.logger
        ) { connection in
            (
                try await connection.query(PostgresQuery(unsafeSQL: encrypted), logger: Self.logger).collect()[0]
                    .decode(Bool.self),
                try await OrgRoles.unfitness(on: connection, logger: Self.logger)
            )
        }
        #expect(registered.0 && registered.1.isEmpty, "\(registered)")

        // The system's roots do not know that CA, nor does another CA: no connection, nothing sent.
        let stranger = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-ca-\(UUID())").path
        #expect(
            system(
                "openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 1 -subj /CN=stranger "
                    + "-keyout '\(stranger).key' -out '\(stranger).crt' 2>/dev/null") == 0)
        defer {
            try? FileManager.default.removeItem(atPath: stranger + ".key")
            try? FileManager.default.removeItem(atPath: stranger + ".crt")
        }
        for tls in [Settings.DatabaseTLS(mode: .verifyFull), .init(mode: .require, caFile: stranger + ".crt")] {
            await #expect(throws: (any Error).self, "\(tls)") {
                try await server("localhost", tls).withAdminConnection(database: "postgres", logger: Self.logger) {
                    _ = try await $0.query("SELECT 1", logger: Self.logger).collect()
                }
            }
        }
        // `require` checks as `verify-full` does, given the CA.
        let required = try await server("localhost", .init(mode: .require, caFile: ca)).withAdminConnection(
            database: "postgres", logger: Self.logger
        ) {
            try await $0.query(PostgresQuery(unsafeSQL: encrypted), logger: Self.logger).collect()[0].decode(Bool.self)
        }
        #expect(required)
        // An address cannot be checked against the certificate's name: refused before connecting.
        await #expect(throws: TesseraError.self) {
            try await server("127.0.0.1", settings.database.tls).withAdminConnection(
                database: "postgres", logger: Self.logger
            ) { _ = try await $0.query("SELECT 1", logger: Self.logger).collect() }
        }
    }
}
