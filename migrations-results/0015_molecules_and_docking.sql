-- Seed 003's data catalog and docking results, in the org's own database beside the artifacts they point to.
-- A molecule is a registered file (pdb, sdf, pdbqt or mol2): its bytes an artifact of the org, its checksum the
-- artifact's SHA-256. An artifact a molecule or a docking pose refers to cannot be deleted (409 names what holds it).
CREATE TABLE molecules (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    format       text NOT NULL CHECK (format IN ('pdb', 'sdf', 'pdbqt', 'mol2')),
    artifact_id  uuid NOT NULL REFERENCES artifacts (id) ON DELETE RESTRICT,
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    checksum     text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX molecules_name_idx ON molecules (name, id);
CREATE INDEX molecules_created_idx ON molecules (created_at, id);
CREATE INDEX molecules_artifact_idx ON molecules (artifact_id);
GRANT SELECT, INSERT, DELETE ON molecules TO tessera_tenant;

-- The v1 table (a ligand and a score, never written) gives way to the seed's: a job's poses by rank, with the
-- ligand they are of (a job may dock several), the molecule when the ligand is a registered one, and the pose's
-- file as an artifact. Written by the engine from a docking step's result; never changed.
DROP TABLE docking_results;
CREATE TABLE docking_results (
    job_id             uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    ligand             text NOT NULL CHECK (length(ligand) BETWEEN 1 AND 200),
    pose_rank          integer NOT NULL CHECK (pose_rank >= 1),
    affinity           double precision NOT NULL,
    rmsd               double precision,
    molecule_id        uuid REFERENCES molecules (id) ON DELETE SET NULL,
    pose_artifact_id   uuid REFERENCES artifacts (id) ON DELETE RESTRICT,
    task_execution_id  uuid REFERENCES task_executions (id) ON DELETE CASCADE,
    metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, ligand, pose_rank)
);
CREATE INDEX docking_results_affinity_idx ON docking_results (job_id, affinity, ligand, pose_rank);
CREATE INDEX docking_results_pose_idx ON docking_results (pose_artifact_id);
GRANT SELECT, INSERT ON docking_results TO tessera_tenant;
