-- PROTEA's evaluation shape (seed 000): an information-accretion file attached to an ontology snapshot (used by
-- every evaluation on it unless the request says otherwise), and evaluation results: one prediction set against
-- one evaluation set in all three categories (NK, LK, PK), each category a CAFA evaluation of its own. A result is
-- kept per (prediction set, evaluation set, options): the benchmark matrix reads it instead of computing again.
CREATE TABLE ontology_information_accretion (
    ontology_id  uuid PRIMARY KEY REFERENCES ontologies (id) ON DELETE CASCADE,
    content      text NOT NULL,
    terms        integer NOT NULL CHECK (terms > 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON ontology_information_accretion TO tessera_tenant;

CREATE TABLE evaluation_results (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    prediction_set_id  uuid NOT NULL REFERENCES prediction_sets (id) ON DELETE CASCADE,
    evaluation_set_id  uuid NOT NULL REFERENCES evaluation_sets (id) ON DELETE CASCADE,
    -- The options as sorted JSON, the information-accretion file by its SHA-256: equal options, equal text.
    options_key        text NOT NULL,
    nk_evaluation_id   uuid NOT NULL REFERENCES cafa_evaluations (id) ON DELETE CASCADE,
    lk_evaluation_id   uuid NOT NULL REFERENCES cafa_evaluations (id) ON DELETE CASCADE,
    pk_evaluation_id   uuid NOT NULL REFERENCES cafa_evaluations (id) ON DELETE CASCADE,
    seconds            double precision NOT NULL,
    created_by         uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (prediction_set_id, evaluation_set_id, options_key)
);
CREATE INDEX evaluation_results_created_idx ON evaluation_results (created_at, id);
GRANT SELECT, INSERT ON evaluation_results TO tessera_tenant;
