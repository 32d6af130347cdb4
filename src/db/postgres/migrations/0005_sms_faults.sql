-- Twin of SQLite's 0005: texts under faults, sending pauses, the per-caller cap.
ALTER TABLE outbox ADD COLUMN request_started_ms BIGINT;
ALTER TABLE outbox ADD COLUMN unknown_since_ms BIGINT;
ALTER TABLE outbox ADD COLUMN reclaims BIGINT NOT NULL DEFAULT 0;

CREATE INDEX outbox_held ON outbox (to_number) WHERE unknown_since_ms IS NOT NULL;
CREATE INDEX outbox_sent_to ON outbox (to_number, request_started_ms)
    WHERE request_started_ms IS NOT NULL;
CREATE INDEX outbox_leased ON outbox (lease_until_ms) WHERE status = 'sending';

CREATE TABLE sms_pauses (
    scope     TEXT PRIMARY KEY,
    reason    TEXT NOT NULL,
    since_ms  BIGINT NOT NULL
);

ALTER TABLE tenants ADD COLUMN max_future_bookings_per_caller BIGINT NOT NULL DEFAULT 3
    CHECK (max_future_bookings_per_caller > 0);
CREATE INDEX appointments_by_customer ON appointments (tenant_id, customer_phone, start_at);
