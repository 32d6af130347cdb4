//! Retention behind the store (issue 16): one pass prunes the same rows on SQLite and on
//! PostgreSQL, and counts pruned calls into the same daily totals.

use slotline::{config::Upkeep, db::store::Store, retention};

use crate::store::{column, done, stores};

const DAY: i64 = 86_400;
/// The pass runs at this instant; "old" rows are 500 days before it, "new" ones a day.
const NOW: i64 = 1_800_000_000;
const OLD: i64 = NOW - 500 * DAY;
const NEW: i64 = NOW - DAY;

/// Of each kind, rows a pass at [`NOW`] with the default settings must remove and rows
/// it must keep (named `keep…`).
fn rows() -> String {
    format!(
        "
    INSERT INTO calls (call_sid, tenant_id, direction, status, started_at, duration_seconds, gathered_at)
    VALUES ('old-in', 1, 'inbound', 'completed', {OLD}, 30, {OLD}),
           ('old-out', 1, 'outbound-api', 'completed', {OLD} + 60, NULL, NULL),
           ('keep-call', 1, 'inbound', 'completed', {NEW}, 10, NULL);
    INSERT INTO call_turns (call_sid, step, seq, at, heard, said)
    VALUES ('old-in', 'ask', 1, {OLD}, 'hi', 'hello'), ('keep-call', 'ask', 1, {NEW}, 'hi', 'hello');
    INSERT INTO callback_answers (call_sid, step, answer, created_at)
    VALUES ('old-in', 'a', '{{}}', {OLD}), ('keep-call', 'a', '{{}}', {NOW} - 60);
    INSERT INTO messaging_events (event_id, event_type, received_at)
    VALUES ('old-event', 'message.sent', {OLD}), ('keep-event', 'message.sent', {NEW});
    INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name, start_at,
        end_at, blocked_until, status, created_at, updated_at)
    VALUES (1, 1, 1, 1, 'Old cancelled', {OLD}, {OLD} + 1800, {OLD} + 1800, 'cancelled', {OLD}, {OLD}),
           (2, 1, 1, 1, 'Keep booked', {OLD} + 3600, {OLD} + 5400, {OLD} + 5400, 'booked', {OLD}, {OLD}),
           (3, 1, 1, 2, 'Keep cancelled lately', {NEW}, {NEW} + 1800, {NEW} + 1800, 'cancelled', {NEW}, {NEW});
    INSERT INTO outbox (id, tenant_id, appointment_id, kind, to_number, from_number, due_at,
        status, created_at, updated_at)
    VALUES (1, 1, 2, 'confirmation', '+13125550199', '+13125550100', {OLD}, 'delivered', {OLD}, {OLD}),
           (2, 1, 2, 'reminder', '+13125550199', '+13125550100', {OLD} + 1, 'queued', {OLD}, {OLD}),
           (3, 1, 2, 'moved', '+13125550199', '+13125550100', {OLD} + 2, 'sent', {NEW}, {NEW});
    INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at)
    VALUES (1, 1, 'https://a.example/hook', '[\"appointment.booked\"]', 'whsec_x', 1);
    INSERT INTO webhook_events (id, event_id, tenant_id, type, payload, created_at)
    VALUES (1, 'evt_old_done', 1, 'appointment.booked', '{{}}', {OLD}),
           (2, 'evt_old_pending', 1, 'appointment.booked', '{{}}', {OLD}),
           (3, 'evt_new', 1, 'appointment.booked', '{{}}', {NEW});
    INSERT INTO webhook_deliveries (endpoint_id, event_id, status, next_attempt_ms, created_ms)
    VALUES (1, 1, 'delivered', 0, 0), (1, 2, 'pending', 0, 0), (1, 3, 'delivered', 0, 0);
    INSERT INTO reminder_calls (tenant_id, appointment_id, for_start, hours_before, attempt,
        to_number, status, due_at, created_at, updated_at)
    VALUES (1, 2, {OLD} + 3600, 24, 1, '+13125550199', 'done', {OLD}, {OLD}, {OLD}),
           (1, 2, {OLD} + 3600, 2, 1, '+13125550199', 'queued', {OLD}, {OLD}, {OLD});
    "
    )
}

/// What is left, table by table, and the daily call totals.
async fn left(store: &Store) -> Vec<String> {
    let queries = [
        "SELECT call_sid FROM calls ORDER BY call_sid",
        "SELECT call_sid FROM call_turns ORDER BY call_sid",
        "SELECT call_sid FROM callback_answers ORDER BY call_sid",
        "SELECT event_id FROM messaging_events ORDER BY event_id",
        "SELECT customer_name FROM appointments ORDER BY id",
        "SELECT kind || ':' || status FROM outbox ORDER BY id",
        "SELECT event_id FROM webhook_events ORDER BY id",
        "SELECT status FROM reminder_calls ORDER BY id",
        "SELECT day || ' ' || calls || ' ' || inbound || ' ' || outbound || ' ' || duration_sum
             || ' ' || duration_count || ' ' || gathered || ' ' || offered FROM call_days ORDER BY day",
    ];
    let mut out = Vec::new();
    for q in queries {
        let rows = column(store, q).await;
        out.push(rows.join(","));
    }
    out
}

#[tokio::test]
async fn store_one_pass_prunes_the_same_rows_and_keeps_the_same_totals_on_both_backends() {
    let stores = stores(&rows()).await;
    let mut seen = Vec::new();
    for (backend, store, _, _) in &stores {
        let pruned = retention::prune_once(store, NOW, &Upkeep::default(), None, &|| {})
            .await
            .unwrap();
        assert_eq!(
            (
                pruned.callback_answers,
                pruned.messaging_events,
                pruned.texts,
                pruned.calls,
                pruned.cancelled_appointments,
                pruned.webhook_events,
                pruned.reminder_calls
            ),
            (1, 1, 1, 2, 1, 1, 1),
            "{backend}"
        );
        let day = OLD / DAY;
        let left = left(store).await;
        assert_eq!(
            left,
            [
                "keep-call",
                "keep-call",
                "keep-call",
                "keep-event",
                "Keep booked,Keep cancelled lately",
                "reminder:queued,moved:sent",
                "evt_old_pending,evt_new",
                "queued",
                &format!("{day} 2 1 1 30 1 1 0"),
            ],
            "{backend}"
        );
        let again = retention::prune_once(store, NOW, &Upkeep::default(), None, &|| {})
            .await
            .unwrap();
        assert_eq!(
            again.calls + again.texts + again.webhook_events,
            0,
            "{backend}"
        );
        seen.push(left);
    }
    if let [sqlite, postgres] = &seen[..] {
        assert_eq!(sqlite, postgres);
    }
    done(stores).await;
}
