-- 006: tenants' rate limits set through the admin API (PUT /admin/tenants/{name}), shared by all
-- the keys whose `tenant` is this name (NULL = no limit). A tenant needs no row to exist: keys
-- name it; a row only holds limits. The config file's limits.tenants combine with these.
CREATE TABLE tenants (
  name             TEXT PRIMARY KEY,
  rps              INTEGER,
  rpm              INTEGER,
  tpm              INTEGER,
  max_concurrency  INTEGER,
  updated_at       REAL NOT NULL
);
