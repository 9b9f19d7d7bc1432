-- Run evaluations: a run's predictions scored against its dataset's expected predictions. The options and the
-- whole result are stored as computed and never change; the leading numbers are columns so a dataset's
-- leaderboard sorts in SQL.
CREATE TABLE run_evaluations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_id          uuid NOT NULL REFERENCES prediction_runs (id) ON DELETE CASCADE,
    dataset_id      uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    run_status      run_status NOT NULL,
    options         jsonb NOT NULL,
    metrics         jsonb NOT NULL,
    accuracy        double precision NOT NULL,
    macro_f1        double precision NOT NULL,
    micro_f1        double precision NOT NULL,
    weighted_f1     double precision NOT NULL,
    coverage        double precision NOT NULL,
    failure_rate    double precision NOT NULL,
    latency_p50     double precision,
    latency_mean    double precision,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_evaluations_run_idx ON run_evaluations (run_id, created_at, id);
CREATE INDEX run_evaluations_dataset_idx ON run_evaluations (dataset_id, run_id, created_at DESC);

CREATE FUNCTION run_evaluations_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'run evaluations are immutable' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER run_evaluations_immutable BEFORE UPDATE ON run_evaluations
    FOR EACH ROW EXECUTE FUNCTION run_evaluations_immutable();

GRANT SELECT, INSERT ON run_evaluations TO tessera_tenant;
