//! Webhook events on PostgreSQL, the twins of [`crate::db::webhooks::events`]: written
//! inside the transaction of the change they report (pass that transaction), with one
//! queued delivery per live endpoint of the tenant that wants the type. The payloads are
//! built by the same functions as SQLite's, so an event reads alike on both.

use super::cached::Cached;
use deadpool_postgres::GenericClient;
use serde_json::{Value, json};

use super::appointments::admin_json_of;
use crate::db::{
    DbError,
    webhooks::{
        events::{
            EndedCall, ReminderAttempt, SentText, call_data, message_data, message_kind, payload,
            reminder_call_data,
        },
        queue::wall_ms,
    },
};

/// Live endpoints of `$1` whose event list holds `$2` (a macro, so the statements that use
/// it are literals, prepared once per connection).
macro_rules! wanting {
    () => {
        "FROM webhook_endpoints WHERE tenant_id = $1 AND disabled_at IS NULL
         AND EXISTS (SELECT 1 FROM json_array_elements_text(events::json) AS e(value) WHERE e.value = $2)"
    };
}

/// Queues event `kind` of `tenant` with `data` for every endpoint of the tenant that wants
/// it. Returns how many deliveries were queued.
pub async fn enqueue(
    c: &impl GenericClient,
    tenant: i64,
    kind: &str,
    appointment: Option<i64>,
    data: Value,
    now: i64,
) -> Result<usize, DbError> {
    let endpoints: Vec<i64> = c
        .query_cached(
            concat!("SELECT id ", wanting!(), " ORDER BY id"),
            &[&tenant, &kind],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if endpoints.is_empty() {
        return Ok(0);
    }
    let slug: String = c
        .query_one_cached("SELECT slug FROM tenants WHERE id = $1", &[&tenant])
        .await?
        .get(0);
    let (event_id, payload) = payload(kind, &slug, data, now)?;
    let event: i64 = c
        .query_one_cached(
            "INSERT INTO webhook_events (event_id, tenant_id, type, appointment_id, payload, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&event_id, &tenant, &kind, &appointment, &payload.to_string(), &now],
        )
        .await?
        .get(0);
    c.execute_cached(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, appointment_id, next_attempt_ms, created_ms)
         SELECT endpoint, $2, $3, $4, $4 FROM unnest($1::bigint[]) AS e(endpoint)",
        &[&endpoints, &event, &appointment, &wall_ms()],
    )
    .await?;
    Ok(endpoints.len())
}

/// Whether any live endpoint of `tenant` wants `kind` (spares building the payload).
async fn wanted(c: &impl GenericClient, tenant: i64, kind: &str) -> Result<bool, DbError> {
    Ok(c.query_one_cached(
        concat!("SELECT EXISTS (SELECT 1 ", wanting!(), ")"),
        &[&tenant, &kind],
    )
    .await?
    .get(0))
}

/// Queues `appointment.<what>` for appointment `id` of `tenant`, with the appointment as
/// the admin API shows it.
pub async fn appointment_event(
    c: &impl GenericClient,
    tenant: i64,
    id: i64,
    what: &str,
    now: i64,
) -> Result<usize, DbError> {
    let kind = format!("appointment.{what}");
    if !wanted(c, tenant, &kind).await? {
        return Ok(0);
    }
    let appointment = admin_json_of(c, tenant, id).await?;
    let data = json!({ "appointment": appointment });
    enqueue(c, tenant, &kind, Some(id), data, now).await
}

/// Queues `message.delivered` / `message.failed` for the text sent as `message_id`, which
/// just reached `status`.
pub async fn message_event(
    c: &impl GenericClient,
    message_id: &str,
    status: &str,
    detail: Option<&str>,
    now: i64,
) -> Result<usize, DbError> {
    let Some(kind) = message_kind(status) else {
        return Ok(0);
    };
    let Some(r) = c
        .query_opt_cached(
            "SELECT id, tenant_id, appointment_id, kind, to_number FROM outbox WHERE telnyx_message_id = $1",
            &[&message_id],
        )
        .await?
    else {
        return Ok(0);
    };
    let (tenant, appointment): (i64, Option<i64>) = (r.get(1), r.get(2));
    if !wanted(c, tenant, kind).await? {
        return Ok(0);
    }
    let appointment_json = match appointment {
        Some(a) => admin_json_of(c, tenant, a).await?,
        None => Value::Null,
    };
    let text = SentText {
        id: r.get(0),
        message_id,
        kind: r.get(3),
        to: r.get(4),
    };
    let data = message_data(&text, status, detail, appointment_json);
    enqueue(c, tenant, kind, appointment, data, now).await
}

/// Queues `call.completed` for call `call_sid`, which just ended: `booked` when the call
/// booked an appointment that is still booked, else `no_booking`.
pub async fn call_event(
    c: &impl GenericClient,
    call_sid: &str,
    now: i64,
) -> Result<usize, DbError> {
    let Some(r) = c
        .query_opt_cached(
            "SELECT tenant_id, status, direction, from_number, to_number, started_at, ended_at, duration_seconds
             FROM calls WHERE call_sid = $1",
            &[&call_sid],
        )
        .await?
    else {
        return Ok(0);
    };
    let Some(tenant) = r.get::<_, Option<i64>>(0) else {
        return Ok(0);
    };
    let call = EndedCall {
        status: r.get(1),
        direction: r.get(2),
        from: r.get(3),
        to: r.get(4),
        started_at: r.get(5),
        ended_at: r.get(6),
        duration_seconds: r.get(7),
    };
    if !wanted(c, tenant, "call.completed").await? {
        return Ok(0);
    }
    let booked: Option<i64> = c
        .query_opt_cached(
            "SELECT id FROM appointments WHERE tenant_id = $1 AND call_sid = $2 AND status = 'booked'
             ORDER BY id DESC LIMIT 1",
            &[&tenant, &call_sid],
        )
        .await?
        .map(|r| r.get(0));
    let appointment = match booked {
        Some(a) => admin_json_of(c, tenant, a).await?,
        None => Value::Null,
    };
    let data = call_data(call_sid, &call, booked.is_some(), appointment);
    enqueue(c, tenant, "call.completed", booked, data, now).await
}

/// Queues `call.completed` for reminder call `id` (an outbound attempt), which just ended,
/// with what the attempt came to and the appointment it was about.
pub async fn reminder_call_event(
    c: &impl GenericClient,
    id: i64,
    now: i64,
) -> Result<usize, DbError> {
    let Some(r) = c
        .query_opt_cached(
            "SELECT tenant_id, appointment_id, call_sid, to_number, outcome, duration_seconds, attempt
             FROM reminder_calls WHERE id = $1",
            &[&id],
        )
        .await?
    else {
        return Ok(0);
    };
    let (tenant, appointment): (i64, i64) = (r.get(0), r.get(1));
    if !wanted(c, tenant, "call.completed").await? {
        return Ok(0);
    }
    let attempt = ReminderAttempt {
        call_sid: r.get(2),
        to: r.get(3),
        outcome: r.get(4),
        duration_seconds: r.get(5),
        attempt: r.get(6),
    };
    let appointment_json = admin_json_of(c, tenant, appointment).await?;
    let data = reminder_call_data(&attempt, appointment_json);
    enqueue(c, tenant, "call.completed", Some(appointment), data, now).await
}
