-- 009: captured request and reply bodies, and indexes for the log filters (mirrors sqlite/009).
-- data is text, not jsonb: bodies are kept as sent (key order, NUL escapes), and never queried inside.
CREATE TABLE request_captures (
  request_id  text PRIMARY KEY,
  ts          double precision NOT NULL,
  key_id      text,
  data        text NOT NULL
);
CREATE INDEX request_captures_ts ON request_captures (ts);

CREATE INDEX request_log_key_ts ON request_log (key_id, ts);
CREATE INDEX request_log_tenant_ts ON request_log (tenant, ts) WHERE tenant IS NOT NULL;
CREATE INDEX request_log_category_ts ON request_log (category, ts) WHERE category IS NOT NULL;
CREATE INDEX request_log_status_ts ON request_log (status, ts) WHERE status >= 400;
