-- Twin of SQLite's 0014: the call list read newest first along an index, and replies
-- routed by the SMS sender.
CREATE INDEX reminder_calls_by_tenant_time ON reminder_calls (tenant_id, COALESCE(dialed_at, due_at));
CREATE INDEX tenants_by_sender ON tenants (sms_from);
