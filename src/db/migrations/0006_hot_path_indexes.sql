-- Indexes for the writes and reads that otherwise scan every queued text or every
-- appointment while holding the single writer (review M12), as the database grows.

-- Withdrawing or re-planning an appointment's texts (cancel, move, "C").
CREATE INDEX outbox_by_appointment ON outbox (appointment_id, status);
-- Skipping the texts queued to a number that opted out (STOP).
CREATE INDEX outbox_queued_to ON outbox (to_number, status);
-- The once-a-minute sweep of expired holds.
CREATE INDEX appointments_held ON appointments (hold_expires_at) WHERE status = 'held';
-- (A caller's own appointments with a tenant use appointments_by_customer, from 0005.)
