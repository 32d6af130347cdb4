-- Twin of SQLite's 0012: deliveries found by their event, for retention's cascade.
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
