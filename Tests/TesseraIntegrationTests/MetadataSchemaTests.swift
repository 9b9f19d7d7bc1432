import Crypto
import Foundation
import PostgresNIO
import TesseraCore
import TesseraPostgres
import Testing

@Suite struct MetadataSchemaTests {
    let logger = TestDatabase.logger

    func insertAudit(_ connection: PostgresConnection) async throws {
        let zero = ByteBuffer(bytes: [UInt8](repeating: 0, count: 32))
        try await connection.query(
            """
            INSERT INTO audit_logs (event_id, org_id, seq, actor_kind, action, outcome, prev_hash, hash)
            VALUES (\(UUID()), NULL, 1, 'system', 'test.event', 'succeeded', \(zero), \(zero))
            """, logger: logger)
    }

    @Test func auditLogIsAppendOnlyEvenForItsOwner() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                try await insertAudit(connection)
                for statement in [
                    "UPDATE audit_logs SET action = 'x.y'", "DELETE FROM audit_logs", "TRUNCATE audit_logs",
                ] {
                    do {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        Issue.record("\(statement) must be refused")
                    } catch {
                        #expect(describeDatabaseError(error).contains("append-only"))
                    }
                }
            }
        }
    }

    @Test func gatewayRoleMayAppendButNotChangeTheAuditLogOrTheLedger() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            try await settings.database.withConnection(as: .gateway, logger: logger) { connection in
                try await insertAudit(connection)
                for statement in [
                    "UPDATE audit_logs SET action = 'x.y'", "DELETE FROM audit_logs",
                    "DELETE FROM schema_migrations", "CREATE TABLE sneaky (x int)",
                ] {
                    do {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        Issue.record("\(statement) must be refused to the gateway role")
                    } catch {
                        #expect(describeDatabaseError(error).contains("permission denied"))
                    }
                }
            }
        }
    }

    @Test func apiKeyMustBeEitherPlatformOrOrgScoped() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            try await settings.database.withConnection(as: .gateway, logger: logger) { connection in
                let key = APIKey.generate()
                do {
                    // An org key without an org is refused by the CHECK constraint.
                    try await connection.query(
                        """
                        INSERT INTO api_keys (platform_admin, prefix, key_hash, name)
                        VALUES (false, \(key.prefix), \(ByteBuffer(bytes: key.digest)), 'orphan')
                        """, logger: logger)
                    Issue.record("an org key without org must be refused")
                } catch {
                    #expect(describeDatabaseError(error).contains("check constraint"))
                }
            }
        }
    }

    @Test func bootstrapCreatesOneHashedPlatformKey() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                let keys = PlatformAdminKeys(logger: logger)
                guard
                    case .created(let key) = try await keys.bootstrap(by: .commandLine(osUser: "test"), on: connection)
                else {
                    Issue.record("first bootstrap must create a key")
                    return
                }
                guard
                    case .exists(let prefix) = try await keys.bootstrap(
                        by: .commandLine(osUser: "test"), on: connection)
                else {
                    Issue.record("second bootstrap must find the key")
                    return
                }
                #expect(prefix == key.displayPrefix)
                let rows = try await connection.query(
                    "SELECT prefix, key_hash, platform_admin FROM api_keys", logger: logger
                ).collect()
                #expect(rows.count == 1)
                let (storedPrefix, hash, platform) = try rows[0].decode((String, ByteBuffer, Bool).self)
                #expect(storedPrefix == key.prefix)
                #expect(platform)
                #expect(Array(buffer: hash) == Array(SHA256.hash(data: Array(key.plaintext.utf8))))
                // The plaintext is nowhere in the table.
                let dump = try await connection.query("SELECT api_keys::text FROM api_keys", logger: logger).collect()
                #expect(!(try dump[0].decode(String.self)).contains(key.plaintext.suffix(40)))
            }
        }
    }
}
