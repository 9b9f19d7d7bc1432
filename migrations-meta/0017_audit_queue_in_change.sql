-- A change to the metadata database hands its audit records over in one statement just before its COMMIT. For
-- each chain of theirs that no other transaction holds at that moment, they are chained there (after whatever
-- others left queued in it) and commit already chained: the chain's lock is held only from that statement to the
-- COMMIT, and the change needs neither 0012's queue row nor its second transaction after the commit. A chain
-- another transaction holds is not waited for: those records are queued in audit_pending as before and the caller
-- chains them after its commit (`audit_chain_pending`), as the sweep does for a process that stopped in between. A
-- chaining that fails here (any error) is undone alone and its records are queued instead; it never fails the change.

-- The records of `events` (a JSON array in the gateway's outbox form), in their order.
CREATE FUNCTION audit_event_rows(events jsonb)
RETURNS TABLE (n bigint, event_id uuid, org_id uuid, actor_kind actor_kind, actor_id uuid, actor_display text,
               action text, entity_type text, entity_id text, outcome audit_outcome, request_id text, client_ip inet,
               user_agent text, metadata jsonb)
LANGUAGE sql STABLE AS $$
    SELECT t.n, (e->>'event_id')::uuid, (e->>'org_id')::uuid, (e->>'actor_kind')::actor_kind, (e->>'actor_id')::uuid,
           e->>'actor_display', e->>'action', e->>'entity_type', e->>'entity_id', (e->>'outcome')::audit_outcome,
           e->>'request_id', (e->>'client_ip')::inet, e->>'user_agent', coalesce(e->'metadata', '{}'::jsonb)
    FROM jsonb_array_elements(events) WITH ORDINALITY AS t(e, n)
$$;

-- Chains or queues `events`; answers the chains left queued ('platform' for the platform's).
CREATE FUNCTION audit_queue(events jsonb, chain_if_free boolean) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    chain_org uuid;
    left_queued text[] := '{}';
BEGIN
    FOR chain_org IN SELECT DISTINCT r.org_id FROM audit_event_rows(events) r LOOP
        IF chain_if_free THEN
            BEGIN
                IF pg_try_advisory_xact_lock(7301, hashtext(coalesce(chain_org::text, 'platform'))) THEN
                    PERFORM audit_chain_pending(chain_org);
                    INSERT INTO audit_logs (event_id, org_id, actor_kind, actor_id, actor_display, action, entity_type,
                                            entity_id, outcome, request_id, client_ip, user_agent, metadata)
                    SELECT r.event_id, r.org_id, r.actor_kind, r.actor_id, r.actor_display, r.action, r.entity_type,
                           r.entity_id, r.outcome, r.request_id, r.client_ip, r.user_agent, r.metadata
                    FROM audit_event_rows(events) r WHERE r.org_id IS NOT DISTINCT FROM chain_org ORDER BY r.n
                    ON CONFLICT (event_id) DO NOTHING;
                    CONTINUE;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                NULL;
            END;
        END IF;
        INSERT INTO audit_pending (event_id, org_id, actor_kind, actor_id, actor_display, action, entity_type,
                                   entity_id, outcome, request_id, client_ip, user_agent, metadata)
        SELECT r.event_id, r.org_id, r.actor_kind, r.actor_id, r.actor_display, r.action, r.entity_type, r.entity_id,
               r.outcome, r.request_id, r.client_ip, r.user_agent, r.metadata
        FROM audit_event_rows(events) r WHERE r.org_id IS NOT DISTINCT FROM chain_org ORDER BY r.n;
        left_queued := left_queued || coalesce(chain_org::text, 'platform');
    END LOOP;
    RETURN left_queued;
END
$$;
