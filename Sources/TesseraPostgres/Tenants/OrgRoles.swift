import Logging
import PostgresNIO
import TesseraCore

/// Org login roles are made, given a new password and dropped only through two SECURITY DEFINER functions in the
/// server's `postgres` database, `tessera_roles.ensure_org_role(name, verifier)` and
/// `tessera_roles.drop_org_role(name)`, owned by `tessera_role_keeper` (NOLOGIN, CREATEROLE) and refusing any
/// name but `org_` + 32 hex digits. The admin login that provisions orgs then needs CREATEDB but not CREATEROLE:
/// on PostgreSQL 15 a CREATEROLE role can grant itself `pg_execute_server_program`, so a stolen gateway login
/// would be command execution on the database host. `provisioning/postgres` installs both; `tessera server add`
/// refuses a server where they are missing or the admin login holds more (`unfitness`).
public enum OrgRoles {
    /// Creates the org's login role with this SCRAM verifier, or gives the existing one this verifier.
    public static func ensure(
        _ name: OrgDatabaseName, verifier: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        _ = try await connection.sql(
            "SELECT tessera_roles.ensure_org_role(\(name.value), \(verifier))", logger: logger
        ).collect()
    }

    /// Drops the org's login role if it exists (its database first: a role with privileges cannot be dropped).
    public static func drop(_ name: OrgDatabaseName, on connection: PostgresConnection, logger: Logger) async throws {
        _ = try await connection.sql("SELECT tessera_roles.drop_org_role(\(name.value))", logger: logger).collect()
    }

    /// Why the server behind `connection` (the admin login, connected to `postgres`) may not hold org databases;
    /// empty when it may.
    public static func unfitness(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        let row = try await connection.sql(
            """
            SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb,
                EXISTS (
                    SELECT 1 FROM pg_roles o
                    WHERE (o.rolsuper OR o.rolcreaterole) AND o.oid <> r.oid AND pg_has_role(r.oid, o.oid, 'MEMBER')),
                (SELECT count(*) FROM pg_proc p
                    JOIN pg_namespace n ON n.oid = p.pronamespace
                    JOIN pg_roles o ON o.oid = p.proowner
                    WHERE n.nspname = 'tessera_roles' AND p.proname IN ('ensure_org_role', 'drop_org_role')
                        AND p.prosecdef AND o.rolcreaterole AND NOT o.rolcanlogin AND NOT o.rolsuper
                        AND has_function_privilege(r.oid, p.oid, 'EXECUTE'))::int,
                EXISTS (SELECT 1 FROM pg_roles t WHERE t.rolname = 'tessera_tenant' AND NOT t.rolcanlogin
                    AND pg_has_role(r.oid, t.oid, 'MEMBER WITH ADMIN OPTION'))
            FROM pg_roles r WHERE r.rolname = current_user
            """, logger: logger
        ).collect()[0]
        let (superuser, createRole, createDB, inPowerfulRole, functions, tenant) = try row.decode(
            (Bool, Bool, Bool, Bool, Int, Bool).self)
        var problems: [String] = []
        if superuser { problems.append("the admin login is a superuser") }
        if createRole { problems.append("the admin login has CREATEROLE (org roles are made by tessera_roles.*)") }
        if inPowerfulRole { problems.append("the admin login is a member of a role with SUPERUSER or CREATEROLE") }
        if !createDB { problems.append("the admin login lacks CREATEDB") }
        if functions != 2 {
            problems.append(
                "tessera_roles.ensure_org_role and drop_org_role are missing from the postgres database, not SECURITY "
                    + "DEFINER functions of a NOLOGIN role with CREATEROLE, or not executable by the admin login "
                    + "(provisioning/postgres installs them)")
        }
        if !tenant { problems.append("the admin login may not grant tessera_tenant (NOLOGIN; WITH ADMIN OPTION)") }
        return problems
    }
}
