-- 008: what each request cost (mirrors sqlite/008).
ALTER TABLE request_log ADD COLUMN cost_usd double precision;
