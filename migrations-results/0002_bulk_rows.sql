-- Bulk row imports: count a statement's new rows once per dataset (a transition table) instead of one
-- dataset update per row, which made a 100,000-row import update the same dataset row 100,000 times.

DROP TRIGGER rows_counted ON rows;
DROP FUNCTION rows_count();

CREATE FUNCTION rows_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE datasets d SET row_count = d.row_count + n.added
    FROM (SELECT dataset_id, count(*)::int AS added FROM new_rows GROUP BY dataset_id) n
    WHERE d.id = n.dataset_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER rows_counted AFTER INSERT ON rows REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rows_count_statement();
