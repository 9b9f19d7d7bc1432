-- Org quotas (the seed's organizations.quotas): limits a platform admin sets per org, by name; a missing name
-- is no limit. Enforced where the thing is created, with a quota-exceeded problem naming the limit and use.
ALTER TABLE organizations ADD COLUMN IF NOT EXISTS quotas jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(quotas) = 'object');
