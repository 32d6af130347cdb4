-- Twin of SQLite's 0010: callers who move, cancel or ask. The outbox learns the 'moved'
-- kind by changing its named check in place (SQLite rebuilds the table).
ALTER TABLE tenants ADD COLUMN line TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tenants ADD COLUMN sms_moved TEXT;
ALTER TABLE services ADD COLUMN price TEXT;

ALTER TABLE outbox DROP CONSTRAINT outbox_kind;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind
    CHECK (kind IN ('confirmation', 'reminder', 'cancelled', 'moved', 'reply'));
