-- Runs are listed oldest first with a (created_at, id) cursor (filtered by dataset through
-- prediction_runs_dataset_idx).
CREATE INDEX prediction_runs_created_idx ON prediction_runs (created_at, id);
