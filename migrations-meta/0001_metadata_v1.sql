-- Tessera metadata database, v1.
-- Tables are created in dependency order (the schema proposal created some before the tables they reference).
-- Privileges go to the NOLOGIN group role tessera_app, which provisioning/postgres creates and the gateway's
-- login role is a member of; the migrating role owns every object.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        RAISE EXCEPTION 'role tessera_app is missing: create it (NOLOGIN) before migrating, as provisioning/postgres does';
    END IF;
END
$$;

CREATE TYPE org_status AS ENUM ('provisioning', 'ready', 'suspended', 'failed', 'deleting');
CREATE TYPE membership_status AS ENUM ('invited', 'active', 'suspended');
CREATE TYPE user_status AS ENUM ('active', 'disabled');
CREATE TYPE token_kind AS ENUM ('session', 'invitation', 'password_reset');
CREATE TYPE actor_kind AS ENUM ('user', 'api_key', 'platform_admin', 'system');
CREATE TYPE audit_outcome AS ENUM ('succeeded', 'denied', 'failed');
CREATE TYPE job_status AS ENUM ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELED');
CREATE TYPE server_status AS ENUM ('active', 'draining', 'disabled');
CREATE TYPE identity_provider_kind AS ENUM ('oidc', 'saml');

CREATE FUNCTION tessera_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Placement: the PostgreSQL servers that hold org results databases.
CREATE TABLE database_servers (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    host            text NOT NULL,
    port            integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    admin_user      text NOT NULL,
    admin_password_ciphertext bytea,
    max_databases   integer NOT NULL DEFAULT 1000 CHECK (max_databases > 0),
    status          server_status NOT NULL DEFAULT 'active',
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organizations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status          org_status NOT NULL DEFAULT 'provisioning',
    status_reason   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organizations_status_idx ON organizations (status);
CREATE TRIGGER organizations_touch BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION tessera_touch_updated_at();

-- One results database per org; names derive only from the org's UUID.
CREATE TABLE org_databases (
    org_id              uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE RESTRICT,
    server_id           uuid NOT NULL REFERENCES database_servers (id) ON DELETE RESTRICT,
    database_name       text NOT NULL UNIQUE CHECK (database_name ~ '^org_[0-9a-f]{32}$'),
    role_name           text NOT NULL UNIQUE CHECK (role_name ~ '^org_[0-9a-f]{32}$'),
    password_ciphertext bytea,
    schema_version      text,
    migrated_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_databases_server_idx ON org_databases (server_id);

CREATE TABLE org_settings (
    org_id                uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    audit_retention_days  integer CHECK (audit_retention_days IS NULL OR audit_retention_days > 0),
    settings              jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER org_settings_touch BEFORE UPDATE ON org_settings
    FOR EACH ROW EXECUTE FUNCTION tessera_touch_updated_at();

CREATE TABLE users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email             text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    display_name      text,
    password_hash     text CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    is_platform_admin boolean NOT NULL DEFAULT false,
    status            user_status NOT NULL DEFAULT 'active',
    last_login_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION tessera_touch_updated_at();

CREATE TABLE roles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    description text,
    is_system   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE role_permissions (
    role_id     uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission  text NOT NULL CHECK (permission ~ '^[a-z_]+\.[a-z_]+$'),
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE memberships (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      membership_status NOT NULL DEFAULT 'active',
    invited_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, user_id),
    UNIQUE (org_id, id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- A membership's roles must belong to the membership's org (composite FKs).
CREATE TABLE membership_roles (
    membership_id uuid NOT NULL,
    role_id       uuid NOT NULL,
    org_id        uuid NOT NULL,
    PRIMARY KEY (membership_id, role_id),
    FOREIGN KEY (org_id, membership_id) REFERENCES memberships (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, role_id) REFERENCES roles (org_id, id) ON DELETE RESTRICT
);
CREATE INDEX membership_roles_role_idx ON membership_roles (role_id);

-- Hashed API keys: prefix for look-up and display, SHA-256 of the whole key, revocation tombstone.
-- A platform admin key has no org and no role; an org key has both, and the role is of that org.
CREATE TABLE api_keys (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid REFERENCES organizations (id) ON DELETE CASCADE,
    platform_admin      boolean NOT NULL DEFAULT false,
    prefix              text NOT NULL UNIQUE CHECK (prefix ~ '^[0-9A-Za-z]{12}$'),
    key_hash            bytea NOT NULL CHECK (length(key_hash) = 32),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role_id             uuid,
    expires_at          timestamptz,
    revoked_at          timestamptz,
    last_used_at        timestamptz,
    created_by_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_by_key_id   uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, role_id) REFERENCES roles (org_id, id) ON DELETE RESTRICT,
    CHECK ((platform_admin AND org_id IS NULL AND role_id IS NULL)
        OR (NOT platform_admin AND org_id IS NOT NULL AND role_id IS NOT NULL))
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at DESC);
CREATE INDEX api_keys_live_platform_idx ON api_keys (created_at) WHERE platform_admin AND revoked_at IS NULL;

-- Session, invitation and password-reset tokens, stored as SHA-256 digests.
CREATE TABLE tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id        uuid REFERENCES organizations (id) ON DELETE CASCADE,
    kind          token_kind NOT NULL,
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    client_ip     inet,
    user_agent    text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tokens_user_idx ON tokens (user_id, kind);
CREATE INDEX tokens_expiry_idx ON tokens (expires_at) WHERE revoked_at IS NULL;

CREATE TABLE identity_providers (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                    uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind                      identity_provider_kind NOT NULL,
    name                      text NOT NULL,
    issuer                    text NOT NULL,
    client_id                 text,
    client_secret_ciphertext  bytea,
    config                    jsonb NOT NULL DEFAULT '{}'::jsonb,
    enabled                   boolean NOT NULL DEFAULT true,
    created_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE identities (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id    uuid NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    subject        text NOT NULL,
    email          text,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider_id, subject)
);
CREATE INDEX identities_user_idx ON identities (user_id);

-- Task definitions: an OpenAPI-described service contract, versioned per org.
CREATE TABLE task_definitions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,127}$'),
    version           text NOT NULL,
    description       text,
    openapi_document  jsonb NOT NULL,
    input_schema      jsonb,
    output_schema     jsonb,
    created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    archived_at       timestamptz,
    UNIQUE (org_id, name, version),
    UNIQUE (org_id, id)
);
CREATE TRIGGER task_definitions_touch BEFORE UPDATE ON task_definitions
    FOR EACH ROW EXECUTE FUNCTION tessera_touch_updated_at();

CREATE TABLE task_services (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL,
    task_definition_id  uuid NOT NULL,
    base_url            text NOT NULL,
    health_path         text,
    timeout_ms          integer NOT NULL DEFAULT 30000 CHECK (timeout_ms > 0),
    enabled             boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, task_definition_id) REFERENCES task_definitions (org_id, id) ON DELETE CASCADE
);
CREATE INDEX task_services_definition_idx ON task_services (task_definition_id);

-- Pipeline templates may be global (org_id NULL) or an org's own.
CREATE TABLE pipeline_templates (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid REFERENCES organizations (id) ON DELETE CASCADE,
    name         text NOT NULL,
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (org_id, name)
);

CREATE TABLE pipeline_task_steps (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_template_id uuid NOT NULL REFERENCES pipeline_templates (id) ON DELETE CASCADE,
    step_key             text NOT NULL CHECK (step_key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    task_definition_id   uuid NOT NULL REFERENCES task_definitions (id) ON DELETE RESTRICT,
    depends_on           text[] NOT NULL DEFAULT '{}',
    position             integer NOT NULL CHECK (position >= 0),
    params               jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (pipeline_template_id, step_key)
);
CREATE INDEX pipeline_task_steps_definition_idx ON pipeline_task_steps (task_definition_id);

CREATE TABLE pipelines (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                  text NOT NULL,
    description           text,
    pipeline_template_id  uuid REFERENCES pipeline_templates (id) ON DELETE SET NULL,
    created_by            uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE pipeline_versions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_id   uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version       integer NOT NULL CHECK (version > 0),
    definition    jsonb NOT NULL,
    checksum      bytea NOT NULL CHECK (length(checksum) = 32),
    published_at  timestamptz,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pipeline_id, version)
);

CREATE TABLE molecules (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        text,
    smiles      text NOT NULL,
    inchikey    text CHECK (inchikey IS NULL OR inchikey ~ '^[A-Z]{14}-[A-Z]{10}-[A-Z]$'),
    properties  jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, inchikey)
);

CREATE TABLE artifacts (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    uri           text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    sha256        bytea NOT NULL CHECK (length(sha256) = 32),
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX artifacts_org_idx ON artifacts (org_id, created_at DESC);
CREATE INDEX artifacts_sha_idx ON artifacts (org_id, sha256);

-- Mirror of every org's jobs, so a platform admin can list jobs across orgs.
CREATE TABLE jobs_meta (
    org_id               uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    job_id               uuid NOT NULL,
    pipeline_version_id  uuid REFERENCES pipeline_versions (id) ON DELETE SET NULL,
    status               job_status NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz,
    PRIMARY KEY (org_id, job_id)
);
CREATE INDEX jobs_meta_status_idx ON jobs_meta (status, created_at DESC);
CREATE TRIGGER jobs_meta_touch BEFORE UPDATE ON jobs_meta
    FOR EACH ROW EXECUTE FUNCTION tessera_touch_updated_at();

-- The audit log: append-only, hash-chained per org (org_id NULL: platform-level events).
-- No FK to organizations: records outlive the org they describe.
CREATE TABLE audit_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid NOT NULL UNIQUE,
    org_id         uuid,
    seq            bigint NOT NULL CHECK (seq > 0),
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    actor_kind     actor_kind NOT NULL,
    actor_id       uuid,
    actor_display  text,
    action         text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    entity_type    text,
    entity_id      text,
    outcome        audit_outcome NOT NULL,
    request_id     text,
    client_ip      inet,
    user_agent     text,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash      bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash           bytea NOT NULL CHECK (length(hash) = 32),
    UNIQUE NULLS NOT DISTINCT (org_id, seq)
);
CREATE INDEX audit_logs_org_time_idx ON audit_logs (org_id, occurred_at, id);
CREATE INDEX audit_logs_org_actor_idx ON audit_logs (org_id, actor_id, occurred_at);
CREATE INDEX audit_logs_org_action_idx ON audit_logs (org_id, action text_pattern_ops);
CREATE INDEX audit_logs_org_entity_idx ON audit_logs (org_id, entity_type, entity_id);

CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_logs_no_update_delete BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change();

-- The gateway (through tessera_app) reads and writes rows, never DDL; it may only append to the audit log
-- and only read the migration ledger.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tessera_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_logs FROM tessera_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM tessera_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO tessera_app;
