-- Artifacts: named blobs of the org's artifact store (content-addressed by SHA-256; the bytes live in the store, not
-- here). Their records live in the org's own database, beside the jobs and results that refer to them, and count
-- toward the org's artifact_bytes quota with the jobs' output files. The org's role may list, add and delete them,
-- never change one: an artifact's bytes and digest are what they were when it was stored.
CREATE TABLE artifacts (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    content_type  text NOT NULL CHECK (length(content_type) BETWEEN 3 AND 255),
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    sha256        bytea NOT NULL CHECK (length(sha256) = 32),
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX artifacts_created_idx ON artifacts (created_at, id);
CREATE INDEX artifacts_sha256_idx ON artifacts (sha256);
GRANT SELECT, INSERT, DELETE ON artifacts TO tessera_tenant;
