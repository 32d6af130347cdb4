-- Twin of SQLite's 0006: indexes for writes that would otherwise scan.
CREATE INDEX outbox_by_appointment ON outbox (appointment_id, status);
CREATE INDEX outbox_queued_to ON outbox (to_number, status);
CREATE INDEX appointments_held ON appointments (hold_expires_at) WHERE status = 'held';
