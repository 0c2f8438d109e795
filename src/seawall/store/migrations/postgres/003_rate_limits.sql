-- 003: rate limits per key and per group (NULL = no limit; mirrors sqlite/003).
-- bigint for counts and limits: SQLite INTEGER is 64-bit, so the admin API may store values
-- past 2^31 there; the same values must fit here.
ALTER TABLE api_keys ADD COLUMN rpm bigint;               -- requests per minute
ALTER TABLE api_keys ADD COLUMN tpm bigint;               -- tokens per minute
ALTER TABLE api_keys ADD COLUMN max_concurrency bigint;   -- requests in flight at once
ALTER TABLE key_groups ADD COLUMN rpm bigint;             -- shared by all the group's keys together
ALTER TABLE key_groups ADD COLUMN tpm bigint;
ALTER TABLE key_groups ADD COLUMN max_concurrency bigint;
