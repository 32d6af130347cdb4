-- Twin of SQLite's 0004: retired services and providers, and replies routed by recipient.
ALTER TABLE services ADD COLUMN retired_at BIGINT;
ALTER TABLE providers ADD COLUMN retired_at BIGINT;
CREATE INDEX outbox_by_recipient ON outbox (to_number, from_number, due_at);
