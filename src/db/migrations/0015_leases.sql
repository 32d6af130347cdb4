-- Single-runner jobs (retention's passes, for now) under a lease row each (issue 16): a
-- node runs the job only while it holds the row's lease. `epoch` grows whenever the lease
-- passes to another holder, so a holder that was paused past its lease can tell it lost
-- it. On one SQLite file the only node always holds it; with several nodes on PostgreSQL
-- the row is what keeps two from running the same pass.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
