-- 005: requests per second per key and per group (NULL = no limit), beside 003's per-minute
-- limits; a key is held to both, and to its group's.
ALTER TABLE api_keys ADD COLUMN rps INTEGER;
ALTER TABLE key_groups ADD COLUMN rps INTEGER;
