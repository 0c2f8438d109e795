-- 006: tenants' rate limits set through the admin API (mirrors sqlite/006).
CREATE TABLE tenants (
  name             text PRIMARY KEY,
  rps              bigint,
  rpm              bigint,
  tpm              bigint,
  max_concurrency  bigint,
  updated_at       double precision NOT NULL
);
