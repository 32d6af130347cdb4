-- Issue 18: callers who move, cancel or ask by phone.

-- The tenant's line settings (address, FAQ, persona, instructions, model,
-- recognize_callers, change_notice_minutes) as one JSON object (domain::line), the wording
-- of the "moved" text, and an optional price per service.
ALTER TABLE tenants ADD COLUMN line TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tenants ADD COLUMN sms_moved TEXT;
ALTER TABLE services ADD COLUMN price TEXT;

-- The outbox learns the 'moved' kind. SQLite cannot change a CHECK, so the table is
-- rebuilt (nothing refers to it by foreign key) with every column and index it has.
CREATE TABLE outbox_new (
    id                   INTEGER PRIMARY KEY,
    tenant_id            INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    appointment_id       INTEGER REFERENCES appointments(id) ON DELETE CASCADE,
    kind                 TEXT NOT NULL
        CHECK (kind IN ('confirmation', 'reminder', 'cancelled', 'moved', 'reply')),
    to_number            TEXT NOT NULL,
    from_number          TEXT NOT NULL,
    messaging_profile_id TEXT,
    due_at               INTEGER NOT NULL,
    status               TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'dry_run',
                          'skipped', 'cancelled')),
    attempts             INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms      INTEGER NOT NULL DEFAULT 0,
    lease_until_ms       INTEGER,
    last_error           TEXT,
    telnyx_message_id    TEXT UNIQUE,
    text                 TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    request_started_ms   INTEGER,
    unknown_since_ms     INTEGER,
    reclaims             INTEGER NOT NULL DEFAULT 0,
    CHECK (kind = 'reply' OR appointment_id IS NOT NULL)
);
INSERT INTO outbox_new (id, tenant_id, appointment_id, kind, to_number, from_number,
        messaging_profile_id, due_at, status, attempts, next_attempt_ms, lease_until_ms,
        last_error, telnyx_message_id, text, created_at, updated_at, request_started_ms,
        unknown_since_ms, reclaims)
    SELECT id, tenant_id, appointment_id, kind, to_number, from_number,
        messaging_profile_id, due_at, status, attempts, next_attempt_ms, lease_until_ms,
        last_error, telnyx_message_id, text, created_at, updated_at, request_started_ms,
        unknown_since_ms, reclaims
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE UNIQUE INDEX outbox_once ON outbox (appointment_id, kind, due_at)
    WHERE appointment_id IS NOT NULL AND status <> 'cancelled';
CREATE INDEX outbox_due ON outbox (status, due_at);
CREATE INDEX outbox_by_tenant ON outbox (tenant_id, created_at);
CREATE INDEX outbox_by_recipient ON outbox (to_number, from_number, due_at);
CREATE INDEX outbox_held ON outbox (to_number) WHERE unknown_since_ms IS NOT NULL;
CREATE INDEX outbox_sent_to ON outbox (to_number, request_started_ms)
    WHERE request_started_ms IS NOT NULL;
CREATE INDEX outbox_leased ON outbox (lease_until_ms) WHERE status = 'sending';
CREATE INDEX outbox_by_appointment ON outbox (appointment_id, status);
CREATE INDEX outbox_queued_to ON outbox (to_number, status);
-- From 0009 (retention deletes finished texts along it).
CREATE INDEX outbox_finished ON outbox (updated_at)
    WHERE status IN ('sent', 'delivered', 'failed', 'dry_run', 'skipped', 'cancelled');
