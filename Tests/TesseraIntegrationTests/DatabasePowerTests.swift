import Foundation
import PostgresNIO
import TesseraCore
import TesseraPostgres
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The gateway's admin login holds no more database power than provisioning needs: CREATEDB, not CREATEROLE
/// (on PostgreSQL 15 a CREATEROLE role may grant itself `pg_execute_server_program`: command execution on the
/// database host). Org roles are made and dropped only by `tessera_roles.*`, and `tessera server add` refuses a
/// server short of that.
@Suite struct DatabasePowerTests {
    static let logger = TestDatabase.logger

    @Test func theAdminLoginCannotMakeRolesOrRunServerPrograms() async throws {
        let settings = try TestDatabase.settings(database: "postgres")
        let verifier = ScramVerifier.make(password: "correct horse battery staple")
        try await settings.database.withConnection(as: .admin, database: "postgres", logger: Self.logger) { admin in
            func sqlState(_ sql: PostgresQuery) async -> String? {
                do {
                    _ = try await admin.query(sql, logger: Self.logger).collect()
                    return nil
                } catch let error as PSQLError {
                    return error.serverInfo?[.sqlState]
                } catch {
                    return "\(error)"
                }
            }
            // Before: CREATE ROLE went through, and so did granting itself pg_execute_server_program.
            #expect(await sqlState("CREATE ROLE tessera_test_intruder LOGIN") == "42501")
            #expect(await sqlState("GRANT pg_execute_server_program TO tessera_admin") == "42501")
            #expect(await sqlState("ALTER ROLE tessera_admin CREATEROLE") == "42501")
            #expect(await sqlState("COPY (SELECT 1) TO PROGRAM 'true'") == "42501")
            // The functions make org roles only: not a new password for another role, not another role dropped.
            #expect(await sqlState("SELECT tessera_roles.ensure_org_role('tessera_admin', \(verifier))") == "42501")
            #expect(
                await sqlState("SELECT tessera_roles.ensure_org_role('org_x\"; DROP ROLE x; --', \(verifier))")
                    == "42501")
            #expect(await sqlState("SELECT tessera_roles.drop_org_role('tessera_gateway')") == "42501")
            let name = OrgDatabaseName(org: UUID())
            #expect(await sqlState("SELECT tessera_roles.ensure_org_role(\(name.value), 'a password')") == "22023")

            // An org role through them: a login role with nothing more, given the tenant role, then dropped.
            try await OrgRoles.ensure(name, verifier: verifier, on: admin, logger: Self.logger)
            try await OrgRoles.ensure(name, verifier: verifier, on: admin, logger: Self.logger)  // again: no error
            _ = try await admin.query(
                PostgresQuery(unsafeSQL: "GRANT tessera_tenant TO \(name.quoted)"), logger: Self.logger)
            let made = try await admin.query(
                """
                SELECT rolcanlogin, rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls
                FROM pg_roles WHERE rolname = \(name.value)
                """, logger: Self.logger
            ).collect().map { try $0.decode((Bool, Bool).self) }
            #expect(made.count == 1 && made[0].0 && !made[0].1, "\(made)")
            try await OrgRoles.drop(name, on: admin, logger: Self.logger)
            let left = try await admin.query(
                "SELECT count(*)::int FROM pg_roles WHERE rolname = \(name.value)", logger: Self.logger
            ).collect()[0].decode(Int.self)
            #expect(left == 0)
            #expect(try await OrgRoles.unfitness(on: admin, logger: Self.logger).isEmpty)
        }
    }

    /// `server add` of the second cluster as its `tessera_admin` is taken; as a login with CREATEROLE, or one
    /// that is a member of such a role, it is refused with the reason and nothing is recorded.
    @Test func serverAddRefusesAServerWhoseAdminLoginHoldsTooMuch() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let port = environment["TESSERA_TEST_SERVER_B_PORT"],
            let password = environment["TESSERA_TEST_SERVER_B_ADMIN_PASSWORD"]
        else {
            Issue.record("TESSERA_TEST_SERVER_B_* are not set: run the tests through provisioning/test")
            return
        }
        try await TestDatabase.withFresh(migrated: true) { settings in
            let suffix = UUID().uuidString.prefix(8).lowercased()
            let (strong, member) = ("tessera_test_strong_\(suffix)", "tessera_test_member_\(suffix)")
            let secret = UUID().uuidString
            // Made by cluster b's superuser: what a careless operator might give the gateway.
            #expect(
                Self.superuser(
                    cluster: "b",
                    """
                    CREATE ROLE \(strong) LOGIN CREATEDB CREATEROLE PASSWORD '\(secret)';
                    CREATE ROLE \(member) LOGIN CREATEDB PASSWORD '\(secret)' IN ROLE tessera_role_keeper;
                    GRANT CONNECT ON DATABASE postgres TO \(strong), \(member);
                    GRANT tessera_tenant TO \(strong), \(member) WITH ADMIN OPTION;
                    GRANT USAGE ON SCHEMA tessera_roles TO \(strong), \(member);
                    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tessera_roles TO \(strong), \(member);
                    """) == 0)
            defer { _ = Self.superuser(cluster: "b", "DROP ROLE IF EXISTS \(strong); DROP ROLE IF EXISTS \(member);") }

            for (login, reason) in [
                (strong, "has CREATEROLE"), (member, "member of a role with SUPERUSER or CREATEROLE"),
            ] {
                let refused = try await CommandLineTests.tessera(
                    ["server", "add", "--name", "careless", "--port", port, "--admin-user", login], settings,
                    environment: ["TESSERA_SERVER_ADMIN_PASSWORD": secret])
                #expect(refused.status != 0 && refused.stderr.contains(reason), "\(refused)")
                #expect(!refused.stderr.contains(secret))
            }
            let registered = try await settings.database.withConnection(as: .admin, logger: Self.logger) {
                try await $0.query(
                    "SELECT count(*)::int FROM database_servers WHERE name = 'careless'", logger: Self.logger
                ).collect()[0].decode(Int.self)
            }
            #expect(registered == 0)

            let taken = try await CommandLineTests.tessera(
                ["server", "add", "--name", "b", "--port", port], settings,
                environment: ["TESSERA_SERVER_ADMIN_PASSWORD": password])
            #expect(taken.status == 0, "\(taken)")
        }
    }

    /// Runs `sql` as the superuser of a cluster provisioning/test started; the exit status of psql.
    static func superuser(cluster: String, _ sql: String) -> Int32 {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-\(UUID()).sql").path
        FileManager.default.createFile(atPath: path, contents: Data(sql.utf8), attributes: [.posixPermissions: 0o644])
        defer { try? FileManager.default.removeItem(atPath: path) }
        return system(
            "cd '\(TestDatabase.root)' && env -u TESSERA_PG_PORT TESSERA_PG_CLUSTER=\(cluster) "
                + "provisioning/postgres psql -q -d postgres -v ON_ERROR_STOP=1 < '\(path)' >/dev/null")
    }
}
