-- How far each org's audit outbox has been emptied: the relay's position (outbox_txid, outbox_seq) up to which rows
-- were last deleted from the org's database, by the server's admin login (the org's own role can only add rows).
-- NULL: never. Rows up to the relay's position are in audit_logs; the outbox no longer grows for ever.
ALTER TABLE org_databases ADD COLUMN outbox_trimmed_txid bigint, ADD COLUMN outbox_trimmed_seq bigint;
