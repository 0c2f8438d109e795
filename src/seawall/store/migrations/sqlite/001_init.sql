-- 001: keys and the request log.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  key_hash    TEXT NOT NULL UNIQUE,   -- HMAC-SHA256(server secret, key): the key itself is never stored
  key_prefix  TEXT NOT NULL,          -- first characters, to recognise a key in listings
  last4       TEXT NOT NULL,
  tenant      TEXT,
  grp         TEXT,
  enabled     INTEGER NOT NULL DEFAULT 1,
  created_at  REAL NOT NULL,
  expires_at  REAL,
  revoked_at  REAL,
  metadata    TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE request_log (
  request_id          TEXT PRIMARY KEY,
  ts                  REAL NOT NULL,     -- when the request arrived, epoch seconds
  method              TEXT NOT NULL,
  path                TEXT NOT NULL,
  dialect             TEXT,
  operation           TEXT,
  key_id              TEXT,
  tenant              TEXT,
  model_requested     TEXT,
  model_served        TEXT,
  deployment          TEXT,
  status              INTEGER NOT NULL,
  category            TEXT,              -- error-taxonomy category, NULL on success
  error_code          TEXT,
  attempts            INTEGER NOT NULL DEFAULT 0,
  attempts_detail     TEXT,              -- JSON list, one entry per upstream attempt
  prompt_tokens       INTEGER,
  completion_tokens   INTEGER,
  latency_ms          REAL NOT NULL,
  ttfb_ms             REAL,
  streamed            INTEGER NOT NULL DEFAULT 0,
  stream_end          TEXT,              -- completed | interrupted | client_disconnect | upstream_error
  client_ip           TEXT,
  upstream_request_id TEXT
);
CREATE INDEX request_log_ts ON request_log (ts);
