-- Twin of SQLite's 0016: pacers shared by every node ('sms:' and a sender's number,
-- 'calls'), each the earliest instant (the database's clock, ms) its next request may go.
CREATE TABLE pacers (
    name    TEXT PRIMARY KEY,
    next_ms BIGINT NOT NULL
);
