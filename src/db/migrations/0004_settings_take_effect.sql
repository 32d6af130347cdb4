-- Operators' settings take effect. A service or provider removed from a tenant is retired,
-- not deleted, so the appointments that name it keep their history: a retired row has
-- `retired_at` (Unix seconds) and is left out of everything callers are offered; listing
-- it again by the same name brings it back (see db::tenants::replace).
ALTER TABLE services ADD COLUMN retired_at INTEGER;
ALTER TABLE providers ADD COLUMN retired_at INTEGER;

-- Replies are routed to the tenant that last texted that customer from the number they
-- replied to (db::tenants::for_reply).
CREATE INDEX outbox_by_recipient ON outbox (to_number, from_number, due_at);
