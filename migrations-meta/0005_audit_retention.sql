-- Retention: the append-only trigger lets a DELETE through only in a transaction that the purge path marks
-- (SET LOCAL tessera.audit_purge = 'on'), which needs the DELETE privilege the gateway's role does not have.
-- The purge leaves a signed anchor record, so the chain that remains still verifies.

CREATE OR REPLACE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('tessera.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
