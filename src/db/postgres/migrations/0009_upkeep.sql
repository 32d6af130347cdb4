-- Twin of SQLite's 0009: the call funnel's stages, daily call counts, retention indexes.
ALTER TABLE calls ADD COLUMN gathered_at BIGINT;
ALTER TABLE calls ADD COLUMN offered_at BIGINT;

-- Every stored gather answer marks its call as gathered (the first one sets the time).
CREATE FUNCTION calls_gathered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE calls SET gathered_at = NEW.created_at
    WHERE call_sid = NEW.call_sid AND gathered_at IS NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER calls_gathered AFTER INSERT ON callback_answers
    FOR EACH ROW EXECUTE FUNCTION calls_gathered();

CREATE TABLE call_days (
    tenant_id      BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    day            BIGINT NOT NULL,
    calls          BIGINT NOT NULL,
    inbound        BIGINT NOT NULL,
    outbound       BIGINT NOT NULL,
    duration_sum   BIGINT NOT NULL,
    duration_count BIGINT NOT NULL,
    gathered       BIGINT NOT NULL,
    offered        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

CREATE INDEX calls_by_start ON calls (started_at);
CREATE INDEX callback_answers_by_age ON callback_answers (created_at);
CREATE INDEX messaging_events_by_age ON messaging_events (received_at);
CREATE INDEX outbox_finished ON outbox (updated_at)
    WHERE status IN ('sent', 'delivered', 'failed', 'dry_run', 'skipped', 'cancelled');
CREATE INDEX appointments_cancelled ON appointments (updated_at)
    WHERE status = 'cancelled';
