-- Tenants: the durable provisioning journal, one row per org and step, and the owner named at creation.

CREATE TYPE provisioning_step_status AS ENUM ('pending', 'running', 'done', 'failed');

CREATE TABLE org_provisioning_steps (
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    step         text NOT NULL,
    position     integer NOT NULL,
    status       provisioning_step_status NOT NULL DEFAULT 'pending',
    attempts     integer NOT NULL DEFAULT 0,
    started_at   timestamptz,
    finished_at  timestamptz,
    error        text,
    PRIMARY KEY (org_id, step)
);

ALTER TABLE organizations
    ADD COLUMN owner_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN requested_server text,
    ADD COLUMN purge_requested boolean NOT NULL DEFAULT false;

-- org_databases.server_id may point at a server that is draining: no new orgs go there.
CREATE INDEX database_servers_status_idx ON database_servers (status);

GRANT SELECT, INSERT, UPDATE, DELETE ON org_provisioning_steps TO tessera_app;
