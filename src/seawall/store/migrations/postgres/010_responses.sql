-- 010: Responses conversations (mirrors sqlite/010).
CREATE TABLE response_conversations (
  response_id   text PRIMARY KEY,
  key_id        text NOT NULL,
  model         text NOT NULL,
  created_at    double precision NOT NULL,
  expires_at    double precision NOT NULL,
  input_start   integer NOT NULL,
  output_start  integer NOT NULL,
  items         jsonb NOT NULL,
  response      jsonb
);
CREATE INDEX response_conversations_expires ON response_conversations (expires_at);
