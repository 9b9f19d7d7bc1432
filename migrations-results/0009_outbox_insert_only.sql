-- An org's role may only add to its audit outbox — no UPDATE, DELETE or TRUNCATE — so nothing that speaks as the
-- org can withdraw, edit or hide an event before the relay has read it. The relay marks nothing here any more: it
-- keeps how far it has read in the metadata database (org_databases.outbox_txid, outbox_seq), committed with the
-- records it appends, and reads rows in (txid, seq) order only below the oldest transaction of this database that
-- is still running, so a row committed late by an older transaction is never passed over.
ALTER TABLE audit_outbox ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX audit_outbox_read_order_idx ON audit_outbox (txid, seq);
REVOKE UPDATE, DELETE, TRUNCATE ON audit_outbox FROM tessera_tenant;
