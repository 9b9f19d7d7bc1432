-- Audit records of changes to the metadata database wait here, committed with their change, until they are
-- chained: a change no longer holds its chain's lock until it commits (every append to one org's chain had
-- waited for the commit of the one before it). `audit_chain_pending` moves a chain's waiting records into
-- `audit_logs` (whose trigger numbers and hashes them) under the chain's lock, as many as are there in one
-- transaction; the gateway calls it after each such commit and sweeps for records left by a process that died
-- between the two. occurred_at is set when a record is chained, as before: in order along its chain.

CREATE TABLE audit_pending (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queued_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    event_id       uuid NOT NULL UNIQUE,
    org_id         uuid,
    actor_kind     actor_kind NOT NULL,
    actor_id       uuid,
    actor_display  text,
    action         text NOT NULL,
    entity_type    text,
    entity_id      text,
    outcome        audit_outcome NOT NULL,
    request_id     text,
    client_ip      inet,
    user_agent     text,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_pending_org_idx ON audit_pending (org_id, id);
GRANT SELECT, INSERT, DELETE ON audit_pending TO tessera_app;

-- Chains the waiting records of one chain (NULL: the platform's) in the order they were queued; answers how
-- many. Two branches, so each uses the (org_id, id) index.
CREATE FUNCTION audit_chain_pending(chain_org uuid) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7301, hashtext(coalesce(chain_org::text, 'platform')));
    WITH taken AS (
        DELETE FROM audit_pending
        WHERE id IN (SELECT id FROM audit_pending WHERE chain_org IS NULL AND org_id IS NULL
                     UNION ALL SELECT id FROM audit_pending WHERE org_id = chain_org)
        RETURNING *
    )
    INSERT INTO audit_logs (event_id, org_id, actor_kind, actor_id, actor_display, action, entity_type, entity_id,
                            outcome, request_id, client_ip, user_agent, metadata)
    SELECT event_id, org_id, actor_kind, actor_id, actor_display, action, entity_type, entity_id, outcome,
           request_id, client_ip, user_agent, metadata
    FROM taken ORDER BY id
    ON CONFLICT (event_id) DO NOTHING;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END
$$;
