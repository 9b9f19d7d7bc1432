-- Jobs as the workloads issue describes them (PROTEA's model): comments, an append-only timeline, and the
-- status machine kept by the database as well as by the repository.

CREATE TABLE job_comments (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id         uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    author_id      uuid,
    author_display text,
    body           text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_comments_job_idx ON job_comments (job_id, created_at, id);

-- The canonical JSON the input signature was computed from, and how long a completed job answers for it.
ALTER TABLE jobs ADD COLUMN input_canonical text;
ALTER TABLE jobs ADD COLUMN cache_seconds integer NOT NULL DEFAULT 604800 CHECK (cache_seconds >= 0);
ALTER TABLE result_cache ADD CHECK (expires_at IS NULL OR expires_at > created_at);
CREATE INDEX jobs_created_idx ON jobs (created_at, id);
CREATE INDEX task_executions_job_idx ON task_executions (job_id, step_key, attempt);
CREATE INDEX task_results_execution_idx ON task_results (task_execution_id, created_at);

-- PENDING → RUNNING → COMPLETED | FAILED; PENDING | RUNNING → CANCELED. Anything else is refused.
CREATE FUNCTION job_status_legal(old job_status, new job_status) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT old = new
        OR (old = 'PENDING' AND new IN ('RUNNING', 'CANCELED'))
        OR (old = 'RUNNING' AND new IN ('COMPLETED', 'FAILED', 'CANCELED'))
$$;

CREATE FUNCTION jobs_status_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT job_status_legal(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'illegal status change % -> %', OLD.status, NEW.status USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER jobs_status_guarded BEFORE UPDATE OF status ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_status_guard();
CREATE TRIGGER task_executions_status_guarded BEFORE UPDATE OF status ON task_executions
    FOR EACH ROW EXECUTE FUNCTION jobs_status_guard();

-- The timeline is append-only.
CREATE FUNCTION job_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'job_events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER job_events_append_only BEFORE UPDATE OR DELETE ON job_events
    FOR EACH ROW EXECUTE FUNCTION job_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON job_events FROM tessera_tenant;

GRANT SELECT, INSERT, UPDATE, DELETE ON job_comments TO tessera_tenant;
