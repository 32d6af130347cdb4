-- Pacers shared by every node (issue 16): one row per paced thing ('sms:' and a sender's
-- number for its texts, 'calls' for the account's reminder-call dials), holding the
-- earliest instant (wall ms) the next request may go. On PostgreSQL a send reserves its
-- slot here, under the row's lock, in the transaction that records the request as
-- started, so several nodes together keep a sender's rate. One SQLite file has one worker
-- of each kind, which paces in memory: the table stays empty there.
CREATE TABLE pacers (
    name    TEXT PRIMARY KEY,
    next_ms INTEGER NOT NULL
) WITHOUT ROWID;
