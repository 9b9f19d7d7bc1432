-- The audit log's hash chain, kept by the database itself: a BEFORE INSERT trigger numbers each record in
-- its org's chain (org_id NULL: the platform's chain) and sets prev_hash and
-- hash = SHA-256(prev_hash || canonical encoding). Appends to one chain are serialised by a transaction-level
-- advisory lock, so concurrent writers never fork it. The canonical encoding is length-prefixed fields, so no
-- value can be confused with a separator; TesseraCore's AuditCanonical writes the same bytes to verify.

CREATE FUNCTION audit_field(value text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IS NULL THEN '-' ELSE octet_length(value)::text || ':' || value END
$$;

CREATE FUNCTION audit_canonical(r audit_logs) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'tessera-audit-v1' || E'\n' || concat_ws(E'\n',
        audit_field(r.seq::text),
        audit_field(r.org_id::text),
        audit_field(r.event_id::text),
        audit_field(to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
        audit_field(r.actor_kind::text),
        audit_field(r.actor_id::text),
        audit_field(r.actor_display),
        audit_field(r.action),
        audit_field(r.entity_type),
        audit_field(r.entity_id),
        audit_field(r.outcome::text),
        audit_field(r.request_id),
        audit_field(host(r.client_ip)),
        audit_field(r.user_agent),
        audit_field(r.metadata::text))
$$;

CREATE FUNCTION audit_logs_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(7301, hashtext(coalesce(NEW.org_id::text, 'platform')));
    -- Two branches, so each uses the (org_id, seq) index (IS NOT DISTINCT FROM would scan the table).
    IF NEW.org_id IS NULL THEN
        SELECT seq, hash INTO last_seq, last_hash FROM audit_logs WHERE org_id IS NULL ORDER BY seq DESC LIMIT 1;
    ELSE
        SELECT seq, hash INTO last_seq, last_hash FROM audit_logs WHERE org_id = NEW.org_id ORDER BY seq DESC LIMIT 1;
    END IF;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    NEW.occurred_at := date_trunc('microseconds', coalesce(NEW.occurred_at, clock_timestamp()));
    NEW.hash := sha256(NEW.prev_hash || convert_to(audit_canonical(NEW), 'UTF8'));
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_logs_chained BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION audit_logs_chain();

