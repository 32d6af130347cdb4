-- Reminder calls (issue 14). A tenant's `reminder_calls` settings are one JSON object
-- (domain::reminder_calls), NULL when the tenant places no reminder calls.
ALTER TABLE tenants ADD COLUMN reminder_calls TEXT;

-- Each attempt's outcome, newest last, as the appointment's own record:
-- [{"attempt":1,"hours_before":24,"outcome":"confirmed","at":1764000000}, ...].
ALTER TABLE appointments ADD COLUMN reminder_calls TEXT NOT NULL DEFAULT '[]';

-- One row per dial attempt, written in the booking's transaction (attempt 1) or with the
-- outcome that calls for a retry (attempt 2). `for_start` is the appointment start the
-- reminder was planned for, so a moved appointment gets fresh reminders while the
-- (appointment, reminder, attempt) key stays unique: nothing is dialled twice.
CREATE TABLE reminder_calls (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    appointment_id   INTEGER NOT NULL REFERENCES appointments(id) ON DELETE CASCADE,
    for_start        INTEGER NOT NULL,
    hours_before     INTEGER NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt BETWEEN 1 AND 2),
    to_number        TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'queued' CHECK (status IN
                       ('queued', 'dialing', 'live', 'done', 'cancelled', 'skipped', 'failed', 'dry_run', 'unknown')),
    due_at           INTEGER NOT NULL,
    lease_until_ms   INTEGER,
    request_started  INTEGER NOT NULL DEFAULT 0,
    call_sid         TEXT,
    answered_by      TEXT,
    outcome          TEXT,
    last_error       TEXT,
    dialed_at        INTEGER,
    ended_at         INTEGER,
    duration_seconds INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (appointment_id, for_start, hours_before, attempt)
);
CREATE INDEX reminder_calls_due ON reminder_calls (status, due_at);
CREATE INDEX reminder_calls_by_tenant ON reminder_calls (tenant_id, created_at);
CREATE INDEX reminder_calls_by_number ON reminder_calls (to_number, dialed_at);

-- "Press 9 to stop these calls", per tenant; kept apart from the SMS STOP list.
CREATE TABLE call_opt_outs (
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, number)
);
