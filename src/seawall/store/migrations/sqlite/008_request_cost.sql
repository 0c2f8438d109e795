-- 008: what each request cost, in USD at the catalog's prices (NULL: usage or price unknown).
ALTER TABLE request_log ADD COLUMN cost_usd REAL;
