-- Tenants and what they offer. Times of day are 'HH:MM', dates 'YYYY-MM-DD', instants are
-- Unix seconds (UTC).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id                   INTEGER PRIMARY KEY,
    slug                 TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    phone_number         TEXT NOT NULL UNIQUE,
    timezone             TEXT NOT NULL,
    voice                TEXT NOT NULL,
    greeting             TEXT NOT NULL,
    sms_from             TEXT,
    messaging_profile_id TEXT,
    transfer_number      TEXT,
    slot_minutes         INTEGER NOT NULL CHECK (slot_minutes > 0),
    min_notice_minutes   INTEGER NOT NULL CHECK (min_notice_minutes >= 0),
    horizon_days         INTEGER NOT NULL CHECK (horizon_days > 0),
    buffer_minutes       INTEGER NOT NULL CHECK (buffer_minutes >= 0),
    reminder_hours       TEXT NOT NULL,           -- JSON array of whole hours
    max_attempts         INTEGER NOT NULL CHECK (max_attempts > 0),
    confirm_before_booking INTEGER NOT NULL DEFAULT 0,
    hold_seconds         INTEGER NOT NULL DEFAULT 120 CHECK (hold_seconds > 0),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE services (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes > 0),
    position         INTEGER NOT NULL,
    UNIQUE (tenant_id, name COLLATE NOCASE)
);

CREATE TABLE providers (
    id        INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    position  INTEGER NOT NULL,
    UNIQUE (tenant_id, name COLLATE NOCASE)
);

CREATE TABLE provider_services (
    provider_id INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    service_id  INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    PRIMARY KEY (provider_id, service_id)
) WITHOUT ROWID;

CREATE TABLE opening_hours (
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    weekday   INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6), -- 0 = Monday
    opens     TEXT NOT NULL,
    closes    TEXT NOT NULL,
    CHECK (opens < closes),
    PRIMARY KEY (tenant_id, weekday, opens)
) WITHOUT ROWID;

CREATE TABLE closures (
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    day       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, day)
) WITHOUT ROWID;

-- Calls as seen through the voice URL and status callbacks.
CREATE TABLE calls (
    call_sid         TEXT PRIMARY KEY,
    tenant_id        INTEGER REFERENCES tenants(id) ON DELETE CASCADE,
    from_number      TEXT,
    to_number        TEXT,
    direction        TEXT NOT NULL DEFAULT 'inbound',
    status           TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    duration_seconds INTEGER
);
CREATE INDEX calls_by_tenant ON calls (tenant_id, started_at);

CREATE TABLE appointments (
    id                INTEGER PRIMARY KEY,
    tenant_id         INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    service_id        INTEGER NOT NULL REFERENCES services(id),
    provider_id       INTEGER NOT NULL REFERENCES providers(id),
    customer_name     TEXT NOT NULL,
    customer_phone    TEXT,
    start_at          INTEGER NOT NULL,
    end_at            INTEGER NOT NULL,
    blocked_until     INTEGER NOT NULL,          -- end_at plus the tenant's buffer
    -- 'held': reserved while the caller confirms; it owns its cells until hold_expires_at,
    -- after which any booking over it deletes it first (see appointments::book).
    status            TEXT NOT NULL CHECK (status IN ('held', 'booked', 'cancelled')),
    hold_expires_at   INTEGER,
    call_sid          TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL DEFAULT 0,
    CHECK (start_at < end_at AND end_at <= blocked_until)
);
CREATE INDEX appointments_by_tenant ON appointments (tenant_id, start_at);
CREATE INDEX appointments_by_provider ON appointments (provider_id, start_at);
CREATE INDEX appointments_by_call ON appointments (call_sid);

-- The overlap guard. A booked appointment owns one row per 5-minute cell of
-- [start_at, blocked_until) for its provider; the primary key makes SQLite itself refuse a
-- second appointment on any occupied cell, whatever the application code does.
CREATE TABLE appointment_cells (
    provider_id    INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    cell           INTEGER NOT NULL,             -- Unix seconds / 300
    appointment_id INTEGER NOT NULL REFERENCES appointments(id) ON DELETE CASCADE,
    PRIMARY KEY (provider_id, cell)
) WITHOUT ROWID;
CREATE INDEX appointment_cells_by_appointment ON appointment_cells (appointment_id);

-- TeXML answers already given, so a retried callback gets the identical answer.
CREATE TABLE callback_answers (
    call_sid   TEXT NOT NULL,
    step       TEXT NOT NULL,
    answer     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (call_sid, step)
) WITHOUT ROWID;
