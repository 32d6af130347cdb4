-- The tenant's call list (src/db/reminder_calls/list.rs) reads each of its two tables
-- newest first along an index and stops at the page's end, instead of sorting every call
-- the tenant ever had (11 ms a page at 11,000 calls, bench/scale 2026-12-01): inbound calls
-- along calls_by_tenant, reminder-call attempts along this one.
CREATE INDEX reminder_calls_by_tenant_time ON reminder_calls (tenant_id, COALESCE(dialed_at, due_at));
-- A reply ("C") to a number nobody has texted yet finds its line by the number it was sent
-- to, the tenant's phone number or its SMS sender: both indexed, so the OR is two lookups
-- instead of a scan of every tenant (10,000 in bench/scale).
CREATE INDEX tenants_by_sender ON tenants (sms_from);
