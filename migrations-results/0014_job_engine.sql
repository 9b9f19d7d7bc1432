-- The job engine: a job it runs (dispatch = 'engine') has its steps made into task executions, each leased by the
-- gateway process calling the step's task service. A lease that runs out (the process stopped) ends the attempt;
-- a retry is a new attempt, due after its back-off. A service that answered 202 reports through a callback whose
-- token only the service was given (its SHA-256 is kept). Jobs made by hand (dispatch = 'manual') are as before.
ALTER TABLE jobs ADD COLUMN dispatch text NOT NULL DEFAULT 'manual' CHECK (dispatch IN ('manual', 'engine'));
ALTER TABLE jobs ADD COLUMN use_cache boolean NOT NULL DEFAULT true;
CREATE INDEX jobs_engine_active_idx ON jobs (priority DESC, created_at) WHERE dispatch = 'engine'
    AND status IN ('PENDING', 'RUNNING');

ALTER TABLE task_executions ADD COLUMN due_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE task_executions ADD COLUMN lease_owner text;
ALTER TABLE task_executions ADD COLUMN lease_expires_at timestamptz;
ALTER TABLE task_executions ADD COLUMN service_id uuid;
ALTER TABLE task_executions ADD COLUMN callback_sha256 bytea CHECK (callback_sha256 IS NULL OR length(callback_sha256) = 32);
ALTER TABLE task_executions ADD COLUMN cancel_pending boolean NOT NULL DEFAULT false;
ALTER TABLE task_executions ADD COLUMN cache_hit boolean NOT NULL DEFAULT false;
CREATE INDEX task_executions_active_idx ON task_executions (job_id) WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX task_executions_cancel_idx ON task_executions (job_id) WHERE cancel_pending;

-- The per-task result cache: the SHA-256 of a call's canonical request (definition, params, inputs); a completed
-- execution with the same definition and digest answers a later step without a call.
ALTER TABLE task_executions ADD COLUMN input_sha256 bytea CHECK (input_sha256 IS NULL OR length(input_sha256) = 32);
CREATE INDEX task_executions_cache_idx ON task_executions (task_definition_id, input_sha256) WHERE status = 'COMPLETED';
