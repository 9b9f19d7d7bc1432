-- A change to the metadata database hands its audit records over in one statement just before its COMMIT: they are
-- queued in audit_pending and, for each chain of theirs that no other transaction holds at that moment, chained
-- there by 0012's `audit_chain_pending` (with whatever else waits in that chain), so they commit already chained.
-- The chain's lock is then held only from that statement to the COMMIT, and the change needs no second transaction
-- after its commit. A chain another transaction holds is not waited for: its records stay queued and the caller
-- chains them after its commit, as the sweep does for a process that stopped in between. A chaining that fails here
-- (any error) is undone alone and leaves its records queued; it never fails the change.

-- Queues `events` (a JSON array in the gateway's outbox form) in their order and chains each free chain; answers the
-- chains left queued ('platform' for the platform's).
CREATE FUNCTION audit_queue(events jsonb, chain_if_free boolean) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    chain_org uuid;
    left_queued text[] := '{}';
BEGIN
    INSERT INTO audit_pending (event_id, org_id, actor_kind, actor_id, actor_display, action, entity_type, entity_id,
                               outcome, request_id, client_ip, user_agent, metadata)
    SELECT (e->>'event_id')::uuid, (e->>'org_id')::uuid, (e->>'actor_kind')::actor_kind, (e->>'actor_id')::uuid,
           e->>'actor_display', e->>'action', e->>'entity_type', e->>'entity_id', (e->>'outcome')::audit_outcome,
           e->>'request_id', (e->>'client_ip')::inet, e->>'user_agent', coalesce(e->'metadata', '{}'::jsonb)
    FROM jsonb_array_elements(events) WITH ORDINALITY AS t(e, n)
    ORDER BY n;
    FOR chain_org IN SELECT DISTINCT (e->>'org_id')::uuid FROM jsonb_array_elements(events) AS t(e) LOOP
        IF chain_if_free THEN
            BEGIN
                IF pg_try_advisory_xact_lock(7301, hashtext(coalesce(chain_org::text, 'platform'))) THEN
                    PERFORM audit_chain_pending(chain_org);
                    CONTINUE;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                NULL;
            END;
        END IF;
        left_queued := left_queued || coalesce(chain_org::text, 'platform');
    END LOOP;
    RETURN left_queued;
END
$$;
