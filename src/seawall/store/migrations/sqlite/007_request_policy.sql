-- 007: pre-flight settings per key and per group (NULL = not set: a key's own value, else its
-- group's, else the model's, else the server's; decide/key_policy.py).
ALTER TABLE api_keys ADD COLUMN context_policy TEXT;      -- reject | fallback | trim | truncate_output
ALTER TABLE api_keys ADD COLUMN max_messages INTEGER;     -- messages per request (413 past it)
ALTER TABLE api_keys ADD COLUMN max_images INTEGER;       -- images per request
ALTER TABLE api_keys ADD COLUMN max_image_bytes INTEGER;  -- decoded bytes of one inline image
ALTER TABLE api_keys ADD COLUMN max_body_bytes INTEGER;   -- request body; only lowers server.max_body_bytes
ALTER TABLE key_groups ADD COLUMN context_policy TEXT;    -- defaults for the group's keys
ALTER TABLE key_groups ADD COLUMN max_messages INTEGER;
ALTER TABLE key_groups ADD COLUMN max_images INTEGER;
ALTER TABLE key_groups ADD COLUMN max_image_bytes INTEGER;
ALTER TABLE key_groups ADD COLUMN max_body_bytes INTEGER;
