-- Self-service accounts: a user proves their address before they may create anything. Invited users and
-- users with a password already proved it (an invitation or a reset is accepted from the mailbox).
ALTER TYPE token_kind ADD VALUE IF NOT EXISTS 'email_verification';
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at WHERE password_hash IS NOT NULL;
CREATE INDEX organizations_owner_idx ON organizations (owner_user_id) WHERE owner_user_id IS NOT NULL;
