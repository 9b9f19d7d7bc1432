-- CAFA-style evaluation: ontology snapshots, annotation sets (ground truth), prediction sets, evaluation sets
-- (NK / LK / PK between two annotation sets) and stored evaluation results. Everything is written once.

CREATE TABLE ontologies (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- "<format-version>/<data-version>"; a file without data-version is named by its SHA-256 instead.
    version         text NOT NULL UNIQUE,
    format_version  text,
    data_version    text,
    content_sha256  bytea NOT NULL,
    terms           integer NOT NULL,
    obsolete        integer NOT NULL,
    edges           integer NOT NULL,
    alt_ids         integer NOT NULL,
    namespaces      jsonb NOT NULL,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ontology_terms (
    ontology_id  uuid NOT NULL REFERENCES ontologies (id) ON DELETE CASCADE,
    position     integer NOT NULL,
    term         text NOT NULL,
    namespace    text,
    name         text,
    definition   text,
    obsolete     boolean NOT NULL,
    PRIMARY KEY (ontology_id, position),
    UNIQUE (ontology_id, term)
);

-- child is_a / part_of parent, as the file says (a parent may be outside the file or obsolete).
CREATE TABLE ontology_edges (
    ontology_id  uuid NOT NULL REFERENCES ontologies (id) ON DELETE CASCADE,
    child        text NOT NULL,
    parent       text NOT NULL,
    relation     text NOT NULL CHECK (relation IN ('is_a', 'part_of')),
    PRIMARY KEY (ontology_id, child, parent, relation)
);

CREATE TABLE ontology_alt_ids (
    ontology_id  uuid NOT NULL REFERENCES ontologies (id) ON DELETE CASCADE,
    alt_id       text NOT NULL,
    term         text NOT NULL,
    PRIMARY KEY (ontology_id, alt_id, term)
);

CREATE TABLE annotation_sets (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ontology_id     uuid NOT NULL REFERENCES ontologies (id) ON DELETE CASCADE,
    name            text NOT NULL,
    lines           integer NOT NULL,
    annotations     integer NOT NULL,
    targets         integer NOT NULL,
    excluded_not    integer NOT NULL,
    unknown_terms   integer NOT NULL,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE annotations (
    set_id     uuid NOT NULL REFERENCES annotation_sets (id) ON DELETE CASCADE,
    target     text NOT NULL,
    term       text NOT NULL,
    evidence   text,
    qualifier  text
);
CREATE INDEX annotations_set_idx ON annotations (set_id, target);

CREATE TABLE prediction_sets (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ontology_id     uuid NOT NULL REFERENCES ontologies (id) ON DELETE CASCADE,
    name            text NOT NULL,
    lines           bigint NOT NULL,
    predictions     bigint NOT NULL,
    targets         integer NOT NULL,
    unknown_terms   bigint NOT NULL,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per target: its predicted terms and their scores (the highest when a term came several times).
CREATE TABLE prediction_scores (
    set_id  uuid NOT NULL REFERENCES prediction_sets (id) ON DELETE CASCADE,
    target  text NOT NULL,
    terms   text[] NOT NULL,
    scores  double precision[] NOT NULL,
    PRIMARY KEY (set_id, target),
    CHECK (cardinality(terms) = cardinality(scores))
);

CREATE TABLE evaluation_sets (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ontology_id        uuid NOT NULL REFERENCES ontologies (id) ON DELETE CASCADE,
    name               text NOT NULL,
    old_set_id         uuid NOT NULL REFERENCES annotation_sets (id) ON DELETE CASCADE,
    new_set_id         uuid NOT NULL REFERENCES annotation_sets (id) ON DELETE CASCADE,
    counts             jsonb NOT NULL,
    created_by         uuid,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- The ground truth of each category: NK and LK targets' new annotations in a namespace, PK targets' gained ones.
CREATE TABLE evaluation_set_truth (
    set_id     uuid NOT NULL REFERENCES evaluation_sets (id) ON DELETE CASCADE,
    category   text NOT NULL CHECK (category IN ('NK', 'LK', 'PK')),
    namespace  text NOT NULL,
    target     text NOT NULL,
    term       text NOT NULL
);
CREATE INDEX evaluation_set_truth_idx ON evaluation_set_truth (set_id, category);

CREATE TABLE cafa_evaluations (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ontology_id            uuid NOT NULL REFERENCES ontologies (id) ON DELETE CASCADE,
    prediction_set_id      uuid NOT NULL REFERENCES prediction_sets (id) ON DELETE CASCADE,
    annotation_set_id      uuid REFERENCES annotation_sets (id) ON DELETE CASCADE,
    evaluation_set_id      uuid REFERENCES evaluation_sets (id) ON DELETE CASCADE,
    category               text CHECK (category IN ('NK', 'LK', 'PK')),
    options                jsonb NOT NULL,
    information_accretion  text,
    result                 jsonb NOT NULL,
    seconds                double precision NOT NULL,
    created_by             uuid,
    created_at             timestamptz NOT NULL DEFAULT now(),
    CHECK ((annotation_set_id IS NULL) <> (evaluation_set_id IS NULL)),
    CHECK ((evaluation_set_id IS NULL) = (category IS NULL))
);
CREATE INDEX cafa_evaluations_created_idx ON cafa_evaluations (created_at, id);

CREATE FUNCTION cafa_written_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are written once', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ontologies_written_once BEFORE UPDATE ON ontologies FOR EACH ROW EXECUTE FUNCTION cafa_written_once();
CREATE TRIGGER annotation_sets_written_once BEFORE UPDATE ON annotation_sets FOR EACH ROW EXECUTE FUNCTION cafa_written_once();
CREATE TRIGGER prediction_sets_written_once BEFORE UPDATE ON prediction_sets FOR EACH ROW EXECUTE FUNCTION cafa_written_once();
CREATE TRIGGER evaluation_sets_written_once BEFORE UPDATE ON evaluation_sets FOR EACH ROW EXECUTE FUNCTION cafa_written_once();
CREATE TRIGGER cafa_evaluations_written_once BEFORE UPDATE ON cafa_evaluations FOR EACH ROW EXECUTE FUNCTION cafa_written_once();

GRANT SELECT, INSERT ON ontologies, ontology_terms, ontology_edges, ontology_alt_ids, annotation_sets, annotations,
    prediction_sets, prediction_scores, evaluation_sets, evaluation_set_truth, cafa_evaluations TO tessera_tenant;
