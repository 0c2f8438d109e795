-- 009: captured request and reply bodies (redacted, observe/capture.py), and indexes for the
-- console's and the admin API's log filters (newest first within each).
CREATE TABLE request_captures (
  request_id  TEXT PRIMARY KEY,
  ts          REAL NOT NULL,     -- the request's arrival, epoch seconds: retention prunes by it
  key_id      TEXT,              -- whose request: a key's owner sees only its own
  data        TEXT NOT NULL      -- JSON: request, reply, attempts, stream tail
);
CREATE INDEX request_captures_ts ON request_captures (ts);

CREATE INDEX request_log_key_ts ON request_log (key_id, ts);
CREATE INDEX request_log_model_ts ON request_log (model_requested, ts);
-- Partial: most rows have no tenant and no category (successes); only the others pay for these.
CREATE INDEX request_log_tenant_ts ON request_log (tenant, ts) WHERE tenant IS NOT NULL;
CREATE INDEX request_log_category_ts ON request_log (category, ts) WHERE category IS NOT NULL;
CREATE INDEX request_log_errors_ts ON request_log (status, ts) WHERE status >= 400;
