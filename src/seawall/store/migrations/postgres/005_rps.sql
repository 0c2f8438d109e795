-- 005: requests per second per key and per group (NULL = no limit; mirrors sqlite/005).
ALTER TABLE api_keys ADD COLUMN rps bigint;
ALTER TABLE key_groups ADD COLUMN rps bigint;
