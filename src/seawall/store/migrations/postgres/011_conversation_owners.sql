-- 011: who else may continue a translated Responses conversation (server.share_within,
-- decide/ownership.py): the tenant and group of the key that made it, as they were then.
ALTER TABLE response_conversations ADD COLUMN tenant text;
ALTER TABLE response_conversations ADD COLUMN grp text;
