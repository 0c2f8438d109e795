-- 010: the conversations of Responses served through translation, so previous_response_id can
-- continue them (store/conversations.py). One row per response: its whole conversation (earlier
-- turns, this input, this output) as one JSON array, so a follow-up loads one row, never a chain.
CREATE TABLE response_conversations (
  response_id   TEXT PRIMARY KEY,
  key_id        TEXT NOT NULL,      -- the gateway key that made it: only that key may continue it
  model         TEXT NOT NULL,
  created_at    REAL NOT NULL,      -- epoch seconds
  expires_at    REAL NOT NULL,      -- created_at + responses.retention_days; purged after
  input_start   INTEGER NOT NULL,   -- items[input_start:output_start] is this request's own input
  output_start  INTEGER NOT NULL,   -- items[output_start:] is the response's output
  items         TEXT NOT NULL,      -- JSON array of Responses items
  response      TEXT                -- the response object as sent (JSON), for GET /v1/responses/{id}
);
CREATE INDEX response_conversations_expires ON response_conversations (expires_at);
