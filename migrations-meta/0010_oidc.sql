-- OIDC sign-in (the seed's identity_providers and identities). A provider's settings beyond the seed's columns
-- live in config: {"allowed_domains": [...], "role": "<role name new members get>"}; the client secret is sealed
-- with the master key, bound to the provider's id.
--
-- A sign-in in flight is held by the browser, not here: its state, nonce and PKCE verifier travel sealed in a
-- cookie bound to that browser, so starting a sign-in writes nothing. oidc_states_spent remembers each state
-- that came back (its SHA-256) until it would have expired anyway, so a state works once.
CREATE TABLE IF NOT EXISTS oidc_states_spent (
    state_digest  bytea PRIMARY KEY,
    provider_id   uuid NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    spent_at      timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS oidc_states_spent_expires_idx ON oidc_states_spent (expires_at);
GRANT SELECT, INSERT, DELETE ON oidc_states_spent TO tessera_app;
