-- 004: what each key has spent against its quota (mirrors sqlite/004). Written only as
-- increments (used = used + n), never by the key's update, so an admin edit can't overwrite
-- charges made meanwhile, by this gateway or another.
ALTER TABLE api_keys ADD COLUMN used_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN used_usd double precision NOT NULL DEFAULT 0;
