-- 004: what each key has spent against its quota. Written only as increments (used = used + n),
-- never by the key's update, so an admin edit can't overwrite charges made meanwhile.
ALTER TABLE api_keys ADD COLUMN used_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN used_usd REAL NOT NULL DEFAULT 0;
