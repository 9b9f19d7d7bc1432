-- Molecules are registered files now, recorded in each org's own database beside the artifacts holding their bytes
-- (results migration 0015). The metadata table of v1 (a chemical record with smiles NOT NULL, contradicting seed 003)
-- was never written.
DROP TABLE molecules;
