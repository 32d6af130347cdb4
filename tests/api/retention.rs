//! Retention and the call funnel: one pruning pass removes exactly what outlived its
//! setting (old answers, events, finished texts, calls, cancelled appointments) and
//! nothing else, counts pruned calls into daily totals that stats still show, and
//! `GET /tenants/{id}/stats` reports each stage of the funnel from the database.

use std::time::Duration;

use serde_json::{Value, json};
use slotline::{config::Upkeep, retention};

use crate::{
    helpers::*,
    sql::{Arg, int, text},
};

const DAY: i64 = 86_400;

/// Runs `sql` with `args` on the app's database.
async fn exec(app: &TestApp, sql: &str, args: Vec<Arg>) {
    app.exec_sql(sql, &args).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.int_sql(sql).await
}

fn v(i: i64) -> Arg {
    int(i)
}

fn s(t: &str) -> Arg {
    text(t)
}

/// The demo tenant's id, and one of its services and providers.
async fn demo_ids(app: &TestApp) -> (i64, i64, i64) {
    let ids = app
        .ints_sql(
            "SELECT t.id, s.id, p.id FROM tenants t JOIN services s ON s.tenant_id = t.id
             JOIN providers p ON p.tenant_id = t.id ORDER BY s.id, p.id LIMIT 1",
        )
        .await;
    (ids[0], ids[1], ids[2])
}

/// The first column of `sql`'s rows, joined with commas.
async fn joined(app: &TestApp, sql: &str) -> String {
    app.column_sql(sql).await.join(",")
}

#[tokio::test]
async fn one_pass_prunes_what_outlived_its_retention_and_nothing_else() {
    let app = spawn_app().await;
    // Nothing sends the queued text below behind the test's back.
    app.stop_task("SMS worker").await;
    let now = app.clock.now().as_second();
    let (tenant, service, provider) = demo_ids(&app).await;
    let answer = "INSERT INTO callback_answers (call_sid, step, answer, created_at) VALUES (?1, 'gather-1', '<Response/>', ?2)";
    exec(&app, answer, vec![s("v3:old-answer"), v(now - 2 * DAY)]).await;
    exec(&app, answer, vec![s("v3:new-answer"), v(now - 600)]).await;
    let event = "INSERT INTO messaging_events (event_id, event_type, received_at) VALUES (?1, 'message.finalized', ?2)";
    exec(&app, event, vec![s("old-event"), v(now - 91 * DAY)]).await;
    exec(&app, event, vec![s("new-event"), v(now - 89 * DAY)]).await;
    let text = "INSERT INTO outbox (tenant_id, kind, to_number, from_number, due_at, status, text, created_at, updated_at)
                VALUES (?1, 'reply', '+13125550199', '+13125550100', ?2, ?3, 'hi', ?2, ?2)";
    exec(
        &app,
        text,
        vec![v(tenant), v(now - 91 * DAY), s("delivered")],
    )
    .await;
    exec(&app, text, vec![v(tenant), v(now - 91 * DAY), s("failed")]).await;
    // Queued for months (a paused account) is never finished, so never pruned.
    exec(&app, text, vec![v(tenant), v(now - 91 * DAY), s("queued")]).await;
    exec(&app, text, vec![v(tenant), v(now - 10 * DAY), s("sent")]).await;
    let call = "INSERT INTO calls (call_sid, tenant_id, direction, status, started_at, duration_seconds, gathered_at)
                VALUES (?1, ?2, 'inbound', 'completed', ?3, 60, ?4)";
    exec(
        &app,
        call,
        vec![
            s("v3:ancient-1"),
            v(tenant),
            v(now - 500 * DAY),
            v(now - 500 * DAY),
        ],
    )
    .await;
    exec(
        &app,
        call,
        vec![
            s("v3:ancient-2"),
            v(tenant),
            v(now - 500 * DAY + 5),
            Arg::Null,
        ],
    )
    .await;
    exec(
        &app,
        call,
        vec![s("v3:recent"), v(tenant), v(now - 30 * DAY), Arg::Null],
    )
    .await;
    // Their turns go with them; a recent call keeps its own.
    let turn = "INSERT INTO call_turns (call_sid, step, seq, at, heard, said, outcome)
                VALUES (?1, 'g1', 1, ?2, 'a cut', 'Booked.', 'booked')";
    exec(&app, turn, vec![s("v3:ancient-1"), v(now - 500 * DAY)]).await;
    exec(&app, turn, vec![s("v3:recent"), v(now - 30 * DAY)]).await;
    let appt = "INSERT INTO appointments (tenant_id, service_id, provider_id, customer_name, start_at, end_at, blocked_until, status, created_at, updated_at)
                VALUES (?1, ?2, ?3, 'Sam', ?4, ?4 + 1800, ?4 + 1800, ?5, ?4, ?4)";
    exec(
        &app,
        appt,
        vec![
            v(tenant),
            v(service),
            v(provider),
            v(now - 450 * DAY),
            s("cancelled"),
        ],
    )
    .await;
    exec(
        &app,
        appt,
        vec![
            v(tenant),
            v(service),
            v(provider),
            v(now - 451 * DAY),
            s("booked"),
        ],
    )
    .await;
    exec(
        &app,
        appt,
        vec![
            v(tenant),
            v(service),
            v(provider),
            v(now - 20 * DAY),
            s("cancelled"),
        ],
    )
    .await;

    let pruned = retention::prune_once(&app.state.store, now, &Upkeep::default(), None, &|| {})
        .await
        .unwrap();

    assert_eq!(pruned.callback_answers, 1, "{pruned:?}");
    assert_eq!(pruned.messaging_events, 1, "{pruned:?}");
    assert_eq!(pruned.texts, 2, "{pruned:?}");
    assert_eq!(pruned.calls, 2, "{pruned:?}");
    assert_eq!(pruned.cancelled_appointments, 1, "{pruned:?}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM callback_answers WHERE call_sid = 'v3:new-answer'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM callback_answers").await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM messaging_events WHERE event_id = 'new-event'"
        )
        .await,
        1
    );
    assert_eq!(
        joined(&app, "SELECT status FROM outbox ORDER BY status").await,
        "queued,sent"
    );
    assert_eq!(
        joined(&app, "SELECT call_sid FROM calls").await,
        "v3:recent"
    );
    assert_eq!(
        joined(&app, "SELECT call_sid FROM call_turns").await,
        "v3:recent"
    );
    assert_eq!(
        joined(&app, "SELECT status FROM appointments ORDER BY start_at").await,
        "booked,cancelled"
    );
    // The two pruned calls live on as one day's counts, and stats still count them.
    assert_eq!(
        app.ints_sql(
            "SELECT calls, inbound, duration_sum, duration_count, gathered FROM call_days"
        )
        .await,
        [2, 2, 120, 2, 1]
    );
    let stats: Value = app
        .admin_json(
            reqwest::Method::GET,
            "/tenants/bella-salon/stats?period=all",
        )
        .await;
    assert_eq!(stats["total_calls"], 3, "{stats}");
    assert_eq!(stats["avg_duration_seconds"], 60.0, "{stats}");
    assert_eq!(stats["funnel"]["calls"], 3, "{stats}");
    assert_eq!(stats["funnel"]["gathered"], 1, "{stats}");

    // A second pass finds nothing more.
    let again = retention::prune_once(&app.state.store, now, &Upkeep::default(), None, &|| {})
        .await
        .unwrap();
    assert_eq!(
        again.calls + again.texts + again.callback_answers,
        0,
        "{again:?}"
    );
}

#[tokio::test]
async fn calls_are_pruned_in_batches_and_every_one_is_counted() {
    let app = spawn_app().await;
    let now = app.clock.now().as_second();
    let (tenant, _, _) = demo_ids(&app).await;
    let rows = retention::CALL_BATCH as i64 * 2 + 7;
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let started = now - 401 * DAY + i * 60;
            format!("('v3:old-{i}', {tenant}, 'inbound', 'completed', {started})")
        })
        .collect();
    app.exec_sql(
        &format!(
            "INSERT INTO calls (call_sid, tenant_id, direction, status, started_at) VALUES {}",
            values.join(", ")
        ),
        &[],
    )
    .await;
    let beats = std::sync::atomic::AtomicUsize::new(0);
    let pruned = retention::prune_once(&app.state.store, now, &Upkeep::default(), None, &|| {
        beats.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .await
    .unwrap();
    assert_eq!(pruned.calls, rows as usize);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM calls").await, 0);
    assert_eq!(count(&app, "SELECT SUM(calls) FROM call_days").await, rows);
    // Three batches of calls at least, plus one per other table.
    assert!(beats.into_inner() >= 3 + 4);
}

#[tokio::test]
async fn the_stats_funnel_counts_each_stage_from_the_database() {
    let app = spawn_app().await;
    app.create_tenant(&open_every_day(
        "funnel",
        "+13125550180",
        "America/Chicago",
        &["Ana"],
    ))
    .await;
    let ask = |time: &str| {
        json!({"customer_name": "Sam", "service": "Cut", "preferred_date": "2026-11-24",
               "preferred_time": time, "phone": "+13125550199"})
    };
    // 1: books 10:00 (gathered, booked, texted).
    let (_, p1) = app.start_call("v3:f1", "+13125550180").await;
    assert!(
        app.answer(&p1, "v3:f1", &ask("10:00"))
            .await
            .contains("is booked for")
    );
    // 2: asks for the same time, is offered others, books none.
    let (_, p2) = app.start_call("v3:f2", "+13125550180").await;
    let doc = app.answer(&p2, "v3:f2", &ask("10:00")).await;
    assert!(doc.contains("already taken"), "{doc}");
    // 3: hangs up before answering.
    app.start_call("v3:f3", "+13125550180").await;
    app.state.calls.flush().await;

    let mut funnel = Value::Null;
    for _ in 0..100 {
        let stats: Value = app
            .admin_json(reqwest::Method::GET, "/tenants/funnel/stats?period=7d")
            .await;
        funnel = stats["funnel"].clone();
        if funnel["texted"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        funnel,
        json!({"calls": 3, "gathered": 2, "offered": 1, "booked": 1, "texted": 1, "delivered": 0})
    );
}

#[tokio::test]
async fn old_webhook_events_go_with_their_deliveries_unless_an_endpoint_still_waits_and_old_reminder_calls_go()
 {
    let app = spawn_app().await;
    // The worker would give up on the old pending delivery (past its 26 hours) meanwhile.
    app.stop_task("webhook worker").await;
    // And the dialer would skip the old queued call.
    app.stop_task("reminder-call dialer").await;
    let now = app.clock.now().as_second();
    let (tenant, service, provider) = demo_ids(&app).await;
    exec(
        &app,
        "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, events, created_at)
         VALUES (1, ?1, 'https://hooks.example.com/a', 'whsec_x', '[\"appointment.booked\"]', ?2)",
        vec![v(tenant), v(now - 200 * DAY)],
    )
    .await;
    let event = "INSERT INTO webhook_events (id, event_id, tenant_id, type, payload, created_at)
                 VALUES (?1, ?2, ?3, 'appointment.booked', '{}', ?4)";
    let delivery = "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, next_attempt_ms, created_ms)
                    VALUES (?1, 1, ?1, ?2, 0, 0)";
    // 1: old and delivered (goes, with its delivery and attempt); 2: old but still pending
    // (stays); 3: delivered but recent (stays).
    for (id, age, status) in [
        (1, 91, "delivered"),
        (2, 91, "pending"),
        (3, 10, "delivered"),
    ] {
        exec(
            &app,
            event,
            vec![
                v(id),
                s(&format!("evt_{id}")),
                v(tenant),
                v(now - age * DAY),
            ],
        )
        .await;
        exec(&app, delivery, vec![v(id), s(status)]).await;
    }
    exec(
        &app,
        "INSERT INTO webhook_attempts (delivery_id, attempted_ms, http_status, duration_ms) VALUES (1, 0, 200, 5)",
        vec![],
    ).await;
    let appt = "INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name, start_at, end_at, blocked_until, status, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, 'Sam', ?5, ?5 + 1800, ?5 + 1800, 'booked', ?5, ?5)";
    exec(
        &app,
        appt,
        vec![
            v(900),
            v(tenant),
            v(service),
            v(provider),
            v(now - 100 * DAY),
        ],
    )
    .await;
    let call = "INSERT INTO reminder_calls (tenant_id, appointment_id, for_start, hours_before, attempt, to_number, status, due_at, created_at, updated_at)
                VALUES (?1, 900, ?2, 24, ?3, '+13125550199', ?4, ?2, ?5, ?5)";
    exec(
        &app,
        call,
        vec![
            v(tenant),
            v(now - 100 * DAY),
            v(1),
            s("done"),
            v(now - 100 * DAY),
        ],
    )
    .await;
    // A queued attempt is never pruned, however old.
    exec(
        &app,
        call,
        vec![
            v(tenant),
            v(now - 100 * DAY),
            v(2),
            s("queued"),
            v(now - 100 * DAY),
        ],
    )
    .await;

    let pruned = retention::prune_once(&app.state.store, now, &Upkeep::default(), None, &|| {})
        .await
        .unwrap();

    assert_eq!(pruned.webhook_events, 1, "{pruned:?}");
    assert_eq!(pruned.reminder_calls, 1, "{pruned:?}");
    assert_eq!(
        joined(&app, "SELECT event_id FROM webhook_events ORDER BY id").await,
        "evt_2,evt_3"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_deliveries").await,
        2
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_attempts").await,
        0
    );
    assert_eq!(
        joined(&app, "SELECT status FROM reminder_calls").await,
        "queued"
    );
}
