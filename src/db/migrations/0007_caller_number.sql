-- The number a booking was made from (the call's From), beside the number it texts
-- (customer_phone, which the caller may give): the per-caller booking cap counts both, so
-- one caller ID cannot book out a week by naming a fresh callback number on every call.
ALTER TABLE appointments ADD COLUMN caller_number TEXT;
CREATE INDEX appointments_by_caller ON appointments (tenant_id, caller_number, start_at)
    WHERE caller_number IS NOT NULL;
