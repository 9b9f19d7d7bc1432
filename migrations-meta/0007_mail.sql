-- Mail: a durable outbox in the metadata database. A message is written in the transaction of the change that
-- causes it (an invitation with its token, a password reset), then delivered by the gateway's mail delivery
-- with retries and back-off, so a mail server that is down loses nothing. The body carries a token, so it is
-- stored sealed under the master key (AES-256-GCM, bound to the message id), never as text.
CREATE TYPE mail_status AS ENUM ('pending', 'sending', 'sent', 'failed');

CREATE TABLE mail_outbox (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    org_id           uuid REFERENCES organizations (id) ON DELETE SET NULL,
    user_id          uuid REFERENCES users (id) ON DELETE SET NULL,
    recipient        text NOT NULL CHECK (recipient = lower(recipient) AND recipient LIKE '%_@_%'),
    subject          text NOT NULL CHECK (subject !~ '[\r\n]'),
    body_sealed      bytea NOT NULL,
    status           mail_status NOT NULL DEFAULT 'pending',
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX mail_outbox_created_idx ON mail_outbox (created_at, id);

GRANT SELECT, INSERT, UPDATE ON mail_outbox TO tessera_app;
