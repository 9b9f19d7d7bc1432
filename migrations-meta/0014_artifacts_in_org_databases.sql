-- Artifacts are recorded in each org's own database (results migration 0013), beside the jobs and results that
-- refer to them; the metadata database's table from 0001, never written, goes.
DROP TABLE artifacts;
