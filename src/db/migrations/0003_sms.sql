-- Texts: the outbox the SMS worker drains, opt-outs, and the messaging webhook events
-- already handled. Instants are Unix seconds, except `next_attempt_ms` and `lease_until_ms`,
-- which are wall-clock Unix milliseconds (retry and lease timing is operational, not
-- business time).

-- Per-sender pacing: at most this many texts per second from one `from` number.
ALTER TABLE tenants ADD COLUMN sms_rate_per_second REAL NOT NULL DEFAULT 1.0
    CHECK (sms_rate_per_second > 0);

CREATE TABLE outbox (
    id                   INTEGER PRIMARY KEY,
    tenant_id            INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    appointment_id       INTEGER REFERENCES appointments(id) ON DELETE CASCADE,
    kind                 TEXT NOT NULL
        CHECK (kind IN ('confirmation', 'reminder', 'cancelled', 'reply')),
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
    text                 TEXT,          -- rendered at send time unless given at queue time
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    CHECK (kind = 'reply' OR appointment_id IS NOT NULL)
);
-- One (appointment, kind, due time) is queued once; a cancelled row does not count, so a
-- reminder re-planned back to its old time can be queued again.
CREATE UNIQUE INDEX outbox_once ON outbox (appointment_id, kind, due_at)
    WHERE appointment_id IS NOT NULL AND status <> 'cancelled';
CREATE INDEX outbox_due ON outbox (status, due_at);
CREATE INDEX outbox_by_tenant ON outbox (tenant_id, created_at);

-- Numbers that texted STOP (or that Telnyx refused with 40300). `messaging_profile_id` is
-- '' when the profile is unknown; such a row blocks the number on every profile.
CREATE TABLE sms_opt_outs (
    number               TEXT NOT NULL,
    messaging_profile_id TEXT NOT NULL DEFAULT '',
    opted_out_at         INTEGER NOT NULL,
    PRIMARY KEY (number, messaging_profile_id)
) WITHOUT ROWID;

-- Messaging webhook events already handled (Telnyx may deliver one twice), with the
-- delivery status they carried so a status that arrives before the send is recorded is
-- applied when it is.
CREATE TABLE messaging_events (
    event_id          TEXT PRIMARY KEY,
    event_type        TEXT NOT NULL,
    telnyx_message_id TEXT,
    status            TEXT,
    detail            TEXT,
    received_at       INTEGER NOT NULL
);
CREATE INDEX messaging_events_by_message ON messaging_events (telnyx_message_id);
