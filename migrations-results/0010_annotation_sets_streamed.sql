-- Annotation sets are streamed in: their annotations are copied first, then the set's row is inserted with the
-- distinct targets the database counts, in the same transaction. The check of each annotation's set waits for the
-- commit (SET CONSTRAINTS … DEFERRED in that transaction only), so the set stays insert-only for the org's role.
ALTER TABLE annotations ALTER CONSTRAINT annotations_set_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
