-- 002: groups, and per-key model permissions, IP allowlists and quotas (stored; enforced later).
CREATE TABLE key_groups (
  name          TEXT PRIMARY KEY,
  models        TEXT NOT NULL DEFAULT '[]',  -- JSON list of glob patterns; [] = every model
  quota_tokens  INTEGER,                     -- default for the group's keys; NULL = unlimited
  quota_usd     REAL,
  metadata      TEXT NOT NULL DEFAULT '{}',
  created_at    REAL NOT NULL,
  updated_at    REAL
);

ALTER TABLE api_keys ADD COLUMN models TEXT NOT NULL DEFAULT '[]';       -- JSON globs; [] = the group's
ALTER TABLE api_keys ADD COLUMN ip_allowlist TEXT NOT NULL DEFAULT '[]'; -- JSON CIDRs; [] = any address
ALTER TABLE api_keys ADD COLUMN quota_tokens INTEGER;
ALTER TABLE api_keys ADD COLUMN quota_usd REAL;
ALTER TABLE api_keys ADD COLUMN updated_at REAL;
CREATE INDEX api_keys_name ON api_keys (name);
