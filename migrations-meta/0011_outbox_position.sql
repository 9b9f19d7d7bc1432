-- How far the audit relay has read each org's outbox: the inserting transaction (xid8, as a number) and seq of
-- the last row delivered, updated in the transaction that appends the records. NULL: nothing read yet.
ALTER TABLE org_databases ADD COLUMN outbox_txid bigint, ADD COLUMN outbox_seq bigint;
