-- 003: rate limits per key and per group (NULL = no limit); a key's group limits apply too.
ALTER TABLE api_keys ADD COLUMN rpm INTEGER;              -- requests per minute
ALTER TABLE api_keys ADD COLUMN tpm INTEGER;              -- tokens per minute (estimate at admission, settled with usage)
ALTER TABLE api_keys ADD COLUMN max_concurrency INTEGER;  -- requests in flight at once
ALTER TABLE key_groups ADD COLUMN rpm INTEGER;            -- shared by all the group's keys together
ALTER TABLE key_groups ADD COLUMN tpm INTEGER;
ALTER TABLE key_groups ADD COLUMN max_concurrency INTEGER;
