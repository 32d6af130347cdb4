-- Retention of the tables issues 13 and 14 added (src/retention.rs): a webhook event is
-- deleted with its deliveries and their attempts (by cascade), which needs the deliveries
-- found by event; reminder-call attempts are deleted oldest first by row id.
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
