-- Issue 5: tenant wording as data, the "closed" switch, and the history of operator-edited
-- TeXML documents. NULL wording means "use the built-in default" (src/wording.rs).
ALTER TABLE tenants ADD COLUMN reprompt TEXT;
ALTER TABLE tenants ADD COLUMN confirmation TEXT;
ALTER TABLE tenants ADD COLUMN transfer_line TEXT;
ALTER TABLE tenants ADD COLUMN goodbye TEXT;
ALTER TABLE tenants ADD COLUMN sms_confirmation TEXT;
ALTER TABLE tenants ADD COLUMN sms_reminder TEXT;
ALTER TABLE tenants ADD COLUMN closed INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1));

-- Every version of a tenant's TeXML document saved through the admin API (and the file it
-- replaced, when that had been edited on disk), newest last. The file under texml/ is what
-- is served; this table is the record of who changed what, and when.
CREATE TABLE texml_versions (
    id        INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,                 -- document name without .xml, e.g. 'fallback'
    body      TEXT NOT NULL,
    saved_at  INTEGER NOT NULL,              -- Unix seconds
    saved_by  TEXT NOT NULL                  -- 'admin', 'admin (label)', or 'file' for a hand edit
);
CREATE INDEX texml_versions_by_document ON texml_versions (tenant_id, name, id);
