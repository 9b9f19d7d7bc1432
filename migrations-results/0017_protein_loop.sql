-- PROTEA's prediction loop (seed 000/001): proteins and their sequences, FASTA query sets, embedding recipes and
-- the vectors made by them, and the nearest-neighbour transfers that turn neighbours' GO annotations into a
-- prediction set the CAFA evaluation reads like an uploaded one.

-- One row per distinct amino-acid string, found by its SHA-256: proteins sharing a sequence share its vectors.
CREATE TABLE sequences (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sha256      text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    residues    text NOT NULL CHECK (residues ~ '^[A-Z]+$'),
    length      integer NOT NULL CHECK (length = char_length(residues)),
    created_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON sequences TO tessera_tenant;

-- An accession names one sequence for good: a later upload naming it with other residues is refused.
CREATE TABLE proteins (
    accession    text PRIMARY KEY CHECK (length(accession) BETWEEN 1 AND 200),
    sequence_id  uuid NOT NULL REFERENCES sequences (id) ON DELETE RESTRICT,
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proteins_sequence_idx ON proteins (sequence_id);
GRANT SELECT, INSERT ON proteins TO tessera_tenant;

CREATE TABLE query_sets (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    entries        integer NOT NULL CHECK (entries > 0),
    sequences      integer NOT NULL CHECK (sequences > 0),
    new_sequences  integer NOT NULL CHECK (new_sequences >= 0),
    new_proteins   integer NOT NULL CHECK (new_proteins >= 0),
    created_by     uuid,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX query_sets_created_idx ON query_sets (created_at, id);
GRANT SELECT, INSERT ON query_sets TO tessera_tenant;

CREATE TABLE query_set_entries (
    set_id     uuid NOT NULL REFERENCES query_sets (id) ON DELETE CASCADE,
    position   integer NOT NULL CHECK (position >= 0),
    accession  text NOT NULL REFERENCES proteins (accession) ON DELETE RESTRICT,
    PRIMARY KEY (set_id, position)
);
GRANT SELECT, INSERT ON query_set_entries TO tessera_tenant;

-- A named, immutable recipe: `kmer` (normalised k-mer composition, computed here, dimension 20^k) or
-- `uploaded` (vectors made elsewhere, checked against the dimension).
CREATE TABLE embedding_configs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    recipe       text NOT NULL CHECK (recipe IN ('kmer', 'uploaded')),
    k            integer CHECK (k BETWEEN 1 AND 3),
    dimension    integer NOT NULL CHECK (dimension BETWEEN 1 AND 16384),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((recipe = 'kmer') = (k IS NOT NULL))
);
CREATE INDEX embedding_configs_created_idx ON embedding_configs (created_at, id);
GRANT SELECT, INSERT ON embedding_configs TO tessera_tenant;

-- A sequence's vector under a recipe: float32, little-endian, the recipe's dimension of them.
CREATE TABLE sequence_embeddings (
    config_id    uuid NOT NULL REFERENCES embedding_configs (id) ON DELETE CASCADE,
    sequence_id  uuid NOT NULL REFERENCES sequences (id) ON DELETE CASCADE,
    vector       bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (config_id, sequence_id)
);
GRANT SELECT, INSERT, UPDATE ON sequence_embeddings TO tessera_tenant;

-- How a prediction set was made by transfer: its inputs and parameters (PROTEA's PredictionSet provenance).
CREATE TABLE knn_transfers (
    prediction_set_id    uuid PRIMARY KEY REFERENCES prediction_sets (id) ON DELETE CASCADE,
    query_set_id         uuid NOT NULL REFERENCES query_sets (id) ON DELETE CASCADE,
    annotation_set_id    uuid NOT NULL REFERENCES annotation_sets (id) ON DELETE CASCADE,
    embedding_config_id  uuid NOT NULL REFERENCES embedding_configs (id) ON DELETE CASCADE,
    metric               text NOT NULL CHECK (metric IN ('cosine', 'l2')),
    k                    integer NOT NULL CHECK (k BETWEEN 1 AND 1000),
    max_distance         double precision,
    evidence_weights     jsonb NOT NULL DEFAULT '{}'::jsonb,
    default_weight       double precision NOT NULL,
    queries              integer NOT NULL,
    reference_proteins   integer NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON knn_transfers TO tessera_tenant;
