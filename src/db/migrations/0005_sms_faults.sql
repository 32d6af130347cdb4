-- Texts under faults (docs/texts.md, "When Telnyx misbehaves"). No status is added to the
-- outbox's CHECK (SQLite cannot change it without rebuilding the table): a text whose
-- outcome is unknown stays `sending` with `unknown_since_ms` set, and the messages list
-- shows it as `unknown`; a queued text under a pause is shown as `paused`.

-- Wall-clock ms when the HTTP request for the current attempt began (NULL: not sent, or
-- Telnyx provably did not take it). A lease-expired row with this set is never re-sent.
ALTER TABLE outbox ADD COLUMN request_started_ms INTEGER;
-- Wall-clock ms since when the outcome of the send is unknown (held, not re-sent).
ALTER TABLE outbox ADD COLUMN unknown_since_ms INTEGER;
-- Times a lease-expired row (the process stopped before sending) was put back; capped.
ALTER TABLE outbox ADD COLUMN reclaims INTEGER NOT NULL DEFAULT 0;

-- Held texts, for the sweep and for matching delivery webhooks by to/from/text.
CREATE INDEX outbox_held ON outbox (to_number) WHERE unknown_since_ms IS NOT NULL;
-- Texts sent to a number recently (the per-destination daily cap).
CREATE INDEX outbox_sent_to ON outbox (to_number, request_started_ms)
    WHERE request_started_ms IS NOT NULL;
-- Leases to sweep.
CREATE INDEX outbox_leased ON outbox (lease_until_ms) WHERE status = 'sending';

-- Sending paused after an account-level refusal (401, 403, 408, 40318, 40333), until a
-- probe succeeds. `scope` is '' for all sending, else a messaging profile id.
CREATE TABLE sms_pauses (
    scope     TEXT PRIMARY KEY,
    reason    TEXT NOT NULL,
    since_ms  INTEGER NOT NULL
) WITHOUT ROWID;

-- How many booked future appointments one caller number may hold with a tenant.
ALTER TABLE tenants ADD COLUMN max_future_bookings_per_caller INTEGER NOT NULL DEFAULT 3
    CHECK (max_future_bookings_per_caller > 0);
-- A caller's future bookings with a tenant (the cap above, checked on every booking turn).
CREATE INDEX appointments_by_customer ON appointments (tenant_id, customer_phone, start_at);
