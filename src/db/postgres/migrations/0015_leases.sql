-- Twin of SQLite's 0015: single-runner jobs under a lease row each, with an epoch that
-- grows whenever the lease passes to another holder.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
