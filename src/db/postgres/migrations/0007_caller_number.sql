-- Twin of SQLite's 0007: the number a booking was made from.
ALTER TABLE appointments ADD COLUMN caller_number TEXT;
CREATE INDEX appointments_by_caller ON appointments (tenant_id, caller_number, start_at)
    WHERE caller_number IS NOT NULL;
