-- Identity and access: key rotation links, and change notifications that evict every gateway's
-- credential cache at once (LISTEN tessera_auth). Payload 'key:<prefix>' evicts one key, '*' everything.

ALTER TABLE api_keys ADD COLUMN rotated_to uuid REFERENCES api_keys (id) ON DELETE SET NULL;

CREATE FUNCTION tessera_notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tessera_auth', 'key:' || OLD.prefix);
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, expires_at, role_id, org_id, key_hash OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION tessera_notify_key_change();

CREATE FUNCTION tessera_notify_access_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tessera_auth', '*');
    RETURN NULL;
END
$$;
CREATE TRIGGER role_permissions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_access_change();
CREATE TRIGGER membership_roles_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON membership_roles
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_access_change();
CREATE TRIGGER organizations_status_changed AFTER UPDATE OF status OR DELETE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_access_change();
CREATE TRIGGER tokens_changed AFTER UPDATE OF revoked_at, expires_at OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_access_change();
CREATE TRIGGER memberships_changed AFTER UPDATE OF status, org_id, user_id OR DELETE ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_access_change();
CREATE TRIGGER users_changed AFTER UPDATE OF status, is_platform_admin OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_access_change();
