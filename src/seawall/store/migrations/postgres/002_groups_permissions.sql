-- 002: groups, and per-key model permissions, IP allowlists and quotas (mirrors sqlite/002).
CREATE TABLE key_groups (
  name          text PRIMARY KEY,
  models        jsonb NOT NULL DEFAULT '[]',  -- glob patterns; [] = every model
  quota_tokens  bigint,                       -- default for the group's keys; NULL = unlimited
  quota_usd     double precision,
  metadata      jsonb NOT NULL DEFAULT '{}',
  created_at    double precision NOT NULL,
  updated_at    double precision
);

ALTER TABLE api_keys ADD COLUMN models jsonb NOT NULL DEFAULT '[]';        -- globs; [] = the group's
ALTER TABLE api_keys ADD COLUMN ip_allowlist jsonb NOT NULL DEFAULT '[]';  -- CIDRs; [] = any address
ALTER TABLE api_keys ADD COLUMN quota_tokens bigint;
ALTER TABLE api_keys ADD COLUMN quota_usd double precision;
ALTER TABLE api_keys ADD COLUMN updated_at double precision;
CREATE INDEX api_keys_name ON api_keys (name);
