-- What each call heard and said, kept as long as the call (issue 15's calls page).
-- The voice URL's answer goes on the call row itself (written in the call-log batch, so the
-- hot path gains no statement); every later answer is a row of `call_turns`, written in
-- the flow's own transaction with the answer stored for retries (`callback_answers`, which
-- is pruned after a day). `outcome` is what that turn settled (booked, held, moved,
-- cancelled, question, alternatives, hand-off, error), NULL while the call goes on; the
-- call's outcome is that of its latest turn that settled one. `documents` names the operator documents a turn was
-- served from, each as `name:source:fingerprint` (FNV-1a 64 of the text as served, which
-- the console matches against `texml_versions`).
ALTER TABLE calls ADD COLUMN first_said TEXT;
ALTER TABLE calls ADD COLUMN documents TEXT;

CREATE TABLE call_turns (
    call_sid  TEXT NOT NULL,
    step      TEXT NOT NULL,
    seq       INTEGER NOT NULL,              -- 1, 2, ... in the order the turns were stored
    at        INTEGER NOT NULL,
    heard     TEXT NOT NULL,
    said      TEXT NOT NULL,
    outcome   TEXT,
    documents TEXT,
    PRIMARY KEY (call_sid, step)
) WITHOUT ROWID;

-- Every version of a tenant's wording (issue 15's "what the line says"): the wording fields
-- as one JSON object (null = the built-in default), recorded whenever a create or change
-- alters any of them, with who made it, so the console can list and restore them.
CREATE TABLE wording_versions (
    id        INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    body      TEXT NOT NULL,
    saved_at  INTEGER NOT NULL,
    saved_by  TEXT NOT NULL
);
CREATE INDEX wording_versions_by_tenant ON wording_versions (tenant_id, id);
