-- 007: pre-flight settings per key and per group (NULL = not set; mirrors sqlite/007).
ALTER TABLE api_keys ADD COLUMN context_policy text;
ALTER TABLE api_keys ADD COLUMN max_messages bigint;
ALTER TABLE api_keys ADD COLUMN max_images bigint;
ALTER TABLE api_keys ADD COLUMN max_image_bytes bigint;
ALTER TABLE api_keys ADD COLUMN max_body_bytes bigint;
ALTER TABLE key_groups ADD COLUMN context_policy text;
ALTER TABLE key_groups ADD COLUMN max_messages bigint;
ALTER TABLE key_groups ADD COLUMN max_images bigint;
ALTER TABLE key_groups ADD COLUMN max_image_bytes bigint;
ALTER TABLE key_groups ADD COLUMN max_body_bytes bigint;
