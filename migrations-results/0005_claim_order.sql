-- A claim takes the lowest pending ids of its run (ORDER BY id LIMIT n … SKIP LOCKED). The v1 index on
-- (run_id, status) gave no order, so every claim read and sorted every pending item of the run (200,000 for a
-- 200,000-row run): index the pending items of a run in id order instead, so a claim reads about n entries.
DROP INDEX work_items_claim_idx;
CREATE INDEX work_items_claim_idx ON work_items (run_id, id) WHERE status = 'pending';
