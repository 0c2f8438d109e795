-- 001: keys and the request log (mirrors sqlite/001). Times are epoch seconds in double
-- precision, as in the records and the SQLite store, so both stores hold the same values;
-- to_timestamp(ts) reads them as timestamptz.
CREATE TABLE meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE api_keys (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  key_hash    text NOT NULL UNIQUE,   -- keyed hash (keyring.hash_key): the key itself is never stored
  key_prefix  text NOT NULL,          -- first characters, to recognise a key in listings
  last4       text NOT NULL,
  tenant      text,
  grp         text,
  enabled     boolean NOT NULL DEFAULT true,
  created_at  double precision NOT NULL,
  expires_at  double precision,
  revoked_at  double precision,
  metadata    jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE request_log (
  request_id          text PRIMARY KEY,
  ts                  double precision NOT NULL,  -- when the request arrived, epoch seconds
  method              text NOT NULL,
  path                text NOT NULL,
  dialect             text,
  operation           text,
  key_id              text,
  tenant              text,
  model_requested     text,
  model_served        text,
  deployment          text,
  status              integer NOT NULL,
  category            text,              -- error-taxonomy category, NULL on success
  error_code          text,
  attempts            integer NOT NULL DEFAULT 0,
  attempts_detail     jsonb,             -- one entry per upstream attempt
  prompt_tokens       integer,
  completion_tokens   integer,
  latency_ms          double precision NOT NULL,
  ttfb_ms             double precision,
  streamed            boolean NOT NULL DEFAULT false,
  stream_end          text,              -- completed | interrupted | client_disconnect | upstream_error
  client_ip           text,
  upstream_request_id text
);
-- The log is read newest first, filtered by time, model or status (seawall logs).
CREATE INDEX request_log_ts ON request_log (ts);
CREATE INDEX request_log_model_ts ON request_log (model_requested, ts);
-- Errors are the rows people look for and a small share of all rows: a partial index keeps
-- --status 5xx / error fast without indexing every success.
CREATE INDEX request_log_errors_ts ON request_log (ts) WHERE status >= 400;
