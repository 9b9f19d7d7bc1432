-- Every org's results database, v1. Cloned from tessera_results_template at provisioning.
-- Privileges go to the NOLOGIN role tessera_tenant, which each org's login role is a member of; an org's
-- role can connect to its own database only, so these grants reach no other org's rows.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_tenant') THEN
        RAISE EXCEPTION 'role tessera_tenant is missing: create it (NOLOGIN) before migrating, as provisioning/postgres does';
    END IF;
END
$$;

CREATE TYPE job_status AS ENUM ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELED');
CREATE TYPE run_status AS ENUM ('pending', 'running', 'done', 'cancelled');
CREATE TYPE work_item_status AS ENUM ('pending', 'leased', 'done', 'failed');
CREATE TYPE prediction_outcome AS ENUM ('succeeded', 'failed');

-- ---------------------------------------------------------------- jobs (schema proposal, PROTEA model)

CREATE TABLE jobs (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_version_id  uuid,
    status               job_status NOT NULL DEFAULT 'PENDING',
    params               jsonb NOT NULL DEFAULT '{}'::jsonb,
    input_signature      bytea CHECK (input_signature IS NULL OR length(input_signature) = 32),
    priority             integer NOT NULL DEFAULT 0,
    created_by           uuid,
    lease_owner          text,
    lease_expires_at     timestamptz,
    error                text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz
);
CREATE INDEX jobs_status_idx ON jobs (status, priority DESC, created_at);
CREATE INDEX jobs_signature_idx ON jobs (input_signature);

CREATE TABLE job_inputs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id        uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name          text NOT NULL,
    uri           text NOT NULL,
    content_type  text NOT NULL,
    sha256        bytea CHECK (sha256 IS NULL OR length(sha256) = 32),
    size_bytes    bigint CHECK (size_bytes IS NULL OR size_bytes >= 0),
    UNIQUE (job_id, name)
);

CREATE TABLE job_outputs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id        uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name          text NOT NULL,
    uri           text NOT NULL,
    content_type  text NOT NULL,
    sha256        bytea CHECK (sha256 IS NULL OR length(sha256) = 32),
    size_bytes    bigint CHECK (size_bytes IS NULL OR size_bytes >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, name)
);

-- An append-only timeline per job; seq is dense per job.
CREATE TABLE job_events (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq         bigint NOT NULL CHECK (seq > 0),
    kind        text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE task_executions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id              uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step_key            text NOT NULL,
    task_definition_id  uuid,
    status              job_status NOT NULL DEFAULT 'PENDING',
    attempt             integer NOT NULL DEFAULT 1 CHECK (attempt > 0),
    error               text,
    started_at          timestamptz,
    finished_at         timestamptz,
    UNIQUE (job_id, step_key, attempt)
);

CREATE TABLE task_logs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_execution_id  uuid NOT NULL REFERENCES task_executions (id) ON DELETE CASCADE,
    logged_at          timestamptz NOT NULL DEFAULT now(),
    level              text NOT NULL DEFAULT 'info',
    message            text NOT NULL
);
CREATE INDEX task_logs_execution_idx ON task_logs (task_execution_id, id);

CREATE TABLE task_results (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_execution_id  uuid NOT NULL REFERENCES task_executions (id) ON DELETE CASCADE,
    result             jsonb NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE docking_results (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    molecule_id  uuid,
    ligand       text NOT NULL,
    score        double precision NOT NULL,
    pose         jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX docking_results_job_idx ON docking_results (job_id, score);

-- A job's input signature (SHA-256 of canonical pipeline version + params + inputs) → its result.
CREATE TABLE result_cache (
    input_signature  bytea PRIMARY KEY CHECK (length(input_signature) = 32),
    job_id           uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    hits             bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz
);

-- ------------------------------------------------- prediction tracking (the prediction-tracking seed)

CREATE TABLE datasets (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    description  text,
    row_count    integer NOT NULL DEFAULT 0 CHECK (row_count >= 0),
    fields       text[] NOT NULL DEFAULT '{}',
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rows (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dataset_id           uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    position             integer NOT NULL CHECK (position >= 0),
    content              jsonb NOT NULL,
    expected_prediction  text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, position)
);

CREATE TABLE models (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    source       text NOT NULL,
    library      text,
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, source)
);

CREATE TABLE prompts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE,
    template    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The seed's modelpromptstatus: one run of a model with a prompt over a dataset, with O(1) progress.
CREATE TABLE prediction_runs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    model_id      uuid NOT NULL REFERENCES models (id) ON DELETE RESTRICT,
    prompt_id     uuid NOT NULL REFERENCES prompts (id) ON DELETE RESTRICT,
    dataset_id    uuid NOT NULL REFERENCES datasets (id) ON DELETE RESTRICT,
    status        run_status NOT NULL DEFAULT 'pending',
    total         integer NOT NULL DEFAULT 0,
    pending       integer NOT NULL DEFAULT 0,
    in_progress   integer NOT NULL DEFAULT 0,
    done          integer NOT NULL DEFAULT 0,
    failed        integer NOT NULL DEFAULT 0,
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    heartbeat_at  timestamptz,
    CHECK (pending >= 0 AND in_progress >= 0 AND done >= 0 AND failed >= 0)
);
CREATE INDEX prediction_runs_dataset_idx ON prediction_runs (dataset_id);

-- The seed's predictionstatus: one work item per run and row, leased by workers.
CREATE TABLE work_items (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_id            uuid NOT NULL REFERENCES prediction_runs (id) ON DELETE CASCADE,
    row_id            uuid NOT NULL REFERENCES rows (id) ON DELETE CASCADE,
    status            work_item_status NOT NULL DEFAULT 'pending',
    lease_id          uuid,
    lease_expires_at  timestamptz,
    attempts          integer NOT NULL DEFAULT 0,
    heartbeat_at      timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, row_id)
);
CREATE INDEX work_items_claim_idx ON work_items (run_id, status) WHERE status = 'pending';
CREATE INDEX work_items_lease_idx ON work_items (lease_expires_at) WHERE status = 'leased';

CREATE TABLE predictions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_id           uuid NOT NULL REFERENCES prediction_runs (id) ON DELETE CASCADE,
    row_id           uuid NOT NULL REFERENCES rows (id) ON DELETE CASCADE,
    output           text,
    latency_seconds  double precision CHECK (latency_seconds IS NULL OR latency_seconds >= 0),
    outcome          prediction_outcome NOT NULL,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, row_id)
);

-- Trigger 1: a new row bumps its dataset's count (O(1); the seed counted every row on each insert).
CREATE FUNCTION rows_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE datasets SET row_count = row_count + 1 WHERE id = NEW.dataset_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER rows_counted AFTER INSERT ON rows FOR EACH ROW EXECUTE FUNCTION rows_count();

-- Trigger 2: a new run seeds one pending work item per row of its dataset and sets its totals.
CREATE FUNCTION prediction_runs_seed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    seeded integer;
BEGIN
    INSERT INTO work_items (run_id, row_id) SELECT NEW.id, r.id FROM rows r WHERE r.dataset_id = NEW.dataset_id;
    GET DIAGNOSTICS seeded = ROW_COUNT;
    UPDATE prediction_runs SET total = seeded, pending = seeded,
        status = CASE WHEN seeded = 0 THEN 'done'::run_status ELSE status END,
        finished_at = CASE WHEN seeded = 0 THEN now() ELSE finished_at END
    WHERE id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER prediction_runs_seeded AFTER INSERT ON prediction_runs FOR EACH ROW EXECUTE FUNCTION prediction_runs_seed();

-- Trigger 3: a work item changing state moves the run's counters by one (O(1)), starts the run on its
-- first lease, and completes it when every row of the dataset has a prediction (done + failed = total).
CREATE FUNCTION work_items_progress() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = OLD.status THEN
        RETURN NULL;
    END IF;
    UPDATE prediction_runs SET
        pending     = pending     - (OLD.status = 'pending')::int + (NEW.status = 'pending')::int,
        in_progress = in_progress - (OLD.status = 'leased')::int  + (NEW.status = 'leased')::int,
        done        = done        - (OLD.status = 'done')::int    + (NEW.status = 'done')::int,
        failed      = failed      - (OLD.status = 'failed')::int  + (NEW.status = 'failed')::int,
        status      = CASE WHEN status = 'pending' AND NEW.status = 'leased' THEN 'running'::run_status ELSE status END,
        started_at  = coalesce(started_at, CASE WHEN NEW.status = 'leased' THEN now() END),
        heartbeat_at = now()
    WHERE id = NEW.run_id;
    UPDATE prediction_runs SET status = 'done', finished_at = now()
    WHERE id = NEW.run_id AND status <> 'cancelled' AND done + failed = total AND finished_at IS NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER work_items_progressed AFTER UPDATE OF status ON work_items FOR EACH ROW EXECUTE FUNCTION work_items_progress();

-- Trigger 4: the heartbeat stamp on every work item change (the seed wrote to an undefined log table).
CREATE FUNCTION work_items_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    IF NEW.status = 'leased' THEN
        NEW.heartbeat_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER work_items_stamped BEFORE UPDATE ON work_items FOR EACH ROW EXECUTE FUNCTION work_items_stamp();

-- ----------------------------------------------------------------------------------- audit outbox

-- Audit events of tenant mutations, written in the mutation's transaction; a relay moves them to the
-- metadata database's audit_logs (idempotently, by event_id).
CREATE TABLE audit_outbox (
    event_id      uuid PRIMARY KEY,
    seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    event         jsonb NOT NULL,
    delivered_at  timestamptz
);
CREATE INDEX audit_outbox_pending_idx ON audit_outbox (seq) WHERE delivered_at IS NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tessera_tenant;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM tessera_tenant;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO tessera_tenant;
