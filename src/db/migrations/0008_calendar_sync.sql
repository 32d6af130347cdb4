-- Calendar sync (docs/calendar-sync.md): ICS subscription feeds and signed webhooks.
-- Instants are Unix seconds, except the webhook queue's `*_ms` columns, which are
-- wall-clock Unix milliseconds (retry and lease timing is operational, not business time).

-- Raised on every move or cancellation (and when a hold is confirmed), so calendar clients
-- that compare SEQUENCE take the newer version of the event.
ALTER TABLE appointments ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;

-- ICS feeds. Only the SHA-256 of the URL's secret is kept; DELETE removes the row, so a
-- revoked URL answers 404 like one that never existed.
CREATE TABLE feeds (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    provider_id INTEGER REFERENCES providers(id) ON DELETE CASCADE,
    detail      TEXT NOT NULL CHECK (detail IN ('full', 'initials', 'busy')),
    secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),
    created_at  INTEGER NOT NULL,
    rotated_at  INTEGER
);
CREATE INDEX feeds_by_tenant ON feeds (tenant_id);

-- Webhook endpoints. The secret signs, so it is stored as given (like the URL secret).
-- `failing_since_ms` starts at the first failure of a streak and clears on a success; a
-- streak of 3 days disables the endpoint with the reason.
CREATE TABLE webhook_endpoints (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,   -- JSON array of event types
    secret           TEXT NOT NULL,   -- whsec_<base64>
    created_at       INTEGER NOT NULL,
    failing_since_ms INTEGER,
    disabled_at      INTEGER,
    disabled_reason  TEXT
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id);

-- Events, written in the transaction of the change they report; `appointment_id` orders
-- deliveries (one appointment's events reach an endpoint in the order they happened).
CREATE TABLE webhook_events (
    id             INTEGER PRIMARY KEY,
    event_id       TEXT NOT NULL UNIQUE,
    tenant_id      INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    type           TEXT NOT NULL,
    appointment_id INTEGER,
    payload        TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

-- One row per (event, endpoint): the queue the webhook worker drains.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id        INTEGER NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    appointment_id  INTEGER,
    status          TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_until_ms  INTEGER,
    last_error      TEXT,
    created_ms      INTEGER NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (status, next_attempt_ms);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, appointment_id, event_id)
    WHERE status = 'pending';

-- Every attempt, for GET /tenants/{id}/webhooks/{w}/deliveries.
CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempted_ms INTEGER NOT NULL,
    http_status  INTEGER,
    error        TEXT,
    duration_ms  INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id);
