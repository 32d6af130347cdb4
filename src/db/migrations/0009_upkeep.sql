-- Issue 17: the call funnel's stages on each call, daily call counts that outlive the
-- pruned call rows, and the indexes retention deletes along (oldest first, in batches).

-- When the call first reached a gather turn, and first had alternatives offered.
ALTER TABLE calls ADD COLUMN gathered_at INTEGER;
ALTER TABLE calls ADD COLUMN offered_at INTEGER;

-- Every stored gather answer marks its call as gathered (the first one sets the time), so
-- the funnel survives the answers' pruning.
CREATE TRIGGER calls_gathered AFTER INSERT ON callback_answers
BEGIN
    UPDATE calls SET gathered_at = NEW.created_at
    WHERE call_sid = NEW.call_sid AND gathered_at IS NULL;
END;

-- Calls older than SLOTLINE_CALL_RETAIN_DAYS, counted per tenant and UTC day
-- (day = started_at / 86400) before their rows are deleted.
CREATE TABLE call_days (
    tenant_id      INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    day            INTEGER NOT NULL,
    calls          INTEGER NOT NULL,
    inbound        INTEGER NOT NULL,
    outbound       INTEGER NOT NULL,
    duration_sum   INTEGER NOT NULL,
    duration_count INTEGER NOT NULL,
    gathered       INTEGER NOT NULL,
    offered        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
) WITHOUT ROWID;

CREATE INDEX calls_by_start ON calls (started_at);
CREATE INDEX callback_answers_by_age ON callback_answers (created_at);
CREATE INDEX messaging_events_by_age ON messaging_events (received_at);
CREATE INDEX outbox_finished ON outbox (updated_at)
    WHERE status IN ('sent', 'delivered', 'failed', 'dry_run', 'skipped', 'cancelled');
CREATE INDEX appointments_cancelled ON appointments (updated_at)
    WHERE status = 'cancelled';
