-- A batch of results (or a claim of many items) moved the run's counters once per work item: a
-- 10,000-result batch updated the same run row 10,000 times in one transaction, each update walking a
-- longer chain of row versions. Count a statement's status changes once per run instead (transition
-- tables), so a claim or a batch of any size is one update of its run.

DROP TRIGGER work_items_progressed ON work_items;
DROP FUNCTION work_items_progress();

CREATE FUNCTION work_items_progress_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Net moves per run: what the statement's rows are now minus what they were (no join of the two
    -- transition tables, which have no index: a 10,000-row batch would compare 10,000 × 10,000 rows).
    WITH moved AS (
        SELECT run_id, sum(p)::int AS d_pending, sum(l)::int AS d_leased, sum(d)::int AS d_done, sum(f)::int AS d_failed,
               bool_or(l > 0) AS leased
        FROM (
            SELECT run_id, (status = 'pending')::int AS p, (status = 'leased')::int AS l, (status = 'done')::int AS d,
                   (status = 'failed')::int AS f
            FROM new_items
            UNION ALL
            SELECT run_id, -(status = 'pending')::int, -(status = 'leased')::int, -(status = 'done')::int, -(status = 'failed')::int
            FROM old_items
        ) changes
        GROUP BY run_id
        HAVING sum(p) <> 0 OR sum(l) <> 0 OR sum(d) <> 0 OR sum(f) <> 0
    )
    UPDATE prediction_runs r SET
        pending      = r.pending + m.d_pending,
        in_progress  = r.in_progress + m.d_leased,
        done         = r.done + m.d_done,
        failed       = r.failed + m.d_failed,
        status       = CASE WHEN r.status IN ('pending', 'running') AND r.done + m.d_done + r.failed + m.d_failed = r.total
                                 THEN 'done'::run_status
                            WHEN r.status = 'pending' AND m.leased THEN 'running'::run_status
                            ELSE r.status END,
        started_at   = coalesce(r.started_at, CASE WHEN m.leased THEN now() END),
        heartbeat_at = now(),
        finished_at  = CASE WHEN r.status IN ('pending', 'running') AND r.done + m.d_done + r.failed + m.d_failed = r.total
                            THEN now() ELSE r.finished_at END
    FROM moved m WHERE r.id = m.run_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER work_items_progressed AFTER UPDATE ON work_items
    REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION work_items_progress_statement();
