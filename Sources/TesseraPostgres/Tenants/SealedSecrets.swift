import Logging
import PostgresNIO

/// The secrets sealed under the master key in the metadata database: org database passwords and database
/// server admin passwords. A master key is never made while any exist (they would be sealed under another).
public enum SealedSecrets {
    /// How many there are; 0 before the metadata schema exists.
    public static func count(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        do {
            return try await connection.sql(
                """
                SELECT (SELECT count(*) FROM org_databases WHERE password_ciphertext IS NOT NULL)
                     + (SELECT count(*) FROM database_servers WHERE admin_password_ciphertext IS NOT NULL)
                """, logger: logger
            ).collect()[0].decode(Int.self)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P01" {
            return 0  // undefined_table: not migrated yet
        }
    }
}
