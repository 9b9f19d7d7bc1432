-- Org roles create nothing of their own: no objects in schema public (PostgreSQL 15 no longer grants that to
-- PUBLIC, but a database cloned from an older template may), and no temporary tables. Org databases provisioned
-- before this migration granted TEMPORARY to the org's role (named like its database) and kept PUBLIC's.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM tessera_tenant;
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_database()) THEN
        EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM %I', current_database(), current_database());
    END IF;
END
$$;
