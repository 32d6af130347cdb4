//! Webhook events: written inside the transaction of the change they report, with one
//! queued delivery per live endpoint of the tenant that wants the type.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::queue::wall_ms;
use crate::db::DbError;

/// A random event id (`evt_` and 32 hex digits), also sent as `webhook-id`.
fn new_event_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

/// A new event's id and the payload its deliveries send: event `kind` of the tenant
/// `slug` at `now` (Unix seconds) carrying `data`. Shared by both backends.
pub(crate) fn payload(
    kind: &str,
    slug: &str,
    data: Value,
    now: i64,
) -> Result<(String, Value), DbError> {
    let event_id = new_event_id();
    let time = Timestamp::from_second(now)
        .map_err(|e| DbError::Corrupt(e.to_string()))?
        .to_string();
    let payload = json!({
        "id": event_id,
        "type": kind,
        "timestamp": time,
        "tenant": slug,
        "data": data,
    });
    Ok((event_id, payload))
}

/// Queues event `kind` of `tenant` with `data` for every endpoint of the tenant that wants
/// it, inside the caller's transaction. Returns how many deliveries were queued.
pub fn enqueue(
    conn: &Connection,
    tenant: i64,
    kind: &str,
    appointment: Option<i64>,
    data: Value,
    now: i64,
) -> Result<usize, DbError> {
    let endpoints: Vec<i64> = conn
        .prepare_cached(
            "SELECT id FROM webhook_endpoints WHERE tenant_id = ?1 AND disabled_at IS NULL
               AND EXISTS (SELECT 1 FROM json_each(events) WHERE value = ?2) ORDER BY id",
        )?
        .query_map(params![tenant, kind], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let slug: String = conn
        .prepare_cached("SELECT slug FROM tenants WHERE id = ?1")?
        .query_row([tenant], |r| r.get(0))?;
    let (event_id, payload) = payload(kind, &slug, data, now)?;
    conn.prepare_cached(
        "INSERT INTO webhook_events (event_id, tenant_id, type, appointment_id, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![event_id, tenant, kind, appointment, payload.to_string(), now])?;
    let event = conn.last_insert_rowid();
    let created = wall_ms();
    let mut insert = conn.prepare_cached(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, appointment_id, next_attempt_ms, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?;
    for endpoint in &endpoints {
        insert.execute(params![endpoint, event, appointment, created])?;
    }
    Ok(endpoints.len())
}

/// Queues `appointment.<what>` for appointment `id` of `tenant`, with the appointment as
/// the admin API shows it (inside the caller's transaction).
pub fn appointment_event(
    conn: &Connection,
    tenant: i64,
    id: i64,
    what: &str,
    now: i64,
) -> Result<usize, DbError> {
    let kind = format!("appointment.{what}");
    if !wanted(conn, tenant, &kind)? {
        return Ok(0);
    }
    let appointment = crate::db::appointments::admin_json_of(conn, tenant, id)?;
    enqueue(
        conn,
        tenant,
        &kind,
        Some(id),
        json!({ "appointment": appointment }),
        now,
    )
}

/// Whether any live endpoint of `tenant` wants `kind` (spares building the payload).
fn wanted(conn: &Connection, tenant: i64, kind: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = ?1 AND disabled_at IS NULL
               AND EXISTS (SELECT 1 FROM json_each(events) WHERE value = ?2))",
        )?
        .query_row(params![tenant, kind], |r| r.get(0))?)
}

/// Queues `message.delivered` / `message.failed` for the text sent as `message_id`, which
/// just reached `status` (inside the caller's transaction).
pub fn message_event(
    conn: &Connection,
    message_id: &str,
    status: &str,
    detail: Option<&str>,
    now: i64,
) -> Result<usize, DbError> {
    let Some(kind) = message_kind(status) else {
        return Ok(0);
    };
    let row: Option<(i64, i64, Option<i64>, String, String)> = conn
        .prepare_cached(
            "SELECT id, tenant_id, appointment_id, kind, to_number FROM outbox WHERE telnyx_message_id = ?1",
        )?
        .query_row([message_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((id, tenant, appointment, text_kind, to)) = row else {
        return Ok(0);
    };
    if !wanted(conn, tenant, kind)? {
        return Ok(0);
    }
    let appointment_json = match appointment {
        Some(a) => crate::db::appointments::admin_json_of(conn, tenant, a)?,
        None => Value::Null,
    };
    let text = SentText {
        id,
        message_id,
        kind: &text_kind,
        to: &to,
    };
    let data = message_data(&text, status, detail, appointment_json);
    enqueue(conn, tenant, kind, appointment, data, now)
}

/// The event a text's delivery `status` reports, if any.
pub(crate) fn message_kind(status: &str) -> Option<&'static str> {
    match status {
        "delivered" => Some("message.delivered"),
        "failed" => Some("message.failed"),
        _ => None,
    }
}

/// A sent text, as its delivery event shows it.
pub(crate) struct SentText<'a> {
    /// The outbox row.
    pub id: i64,
    /// Telnyx's id of the message.
    pub message_id: &'a str,
    /// `confirmation`, `reminder`, ...
    pub kind: &'a str,
    /// The number texted.
    pub to: &'a str,
}

/// A delivery event's `data`: the text, its new `status`, and its appointment.
pub(crate) fn message_data(
    text: &SentText<'_>,
    status: &str,
    detail: Option<&str>,
    appointment: Value,
) -> Value {
    json!({
        "message": {
            "id": text.id,
            "telnyx_message_id": text.message_id,
            "kind": text.kind,
            "to": text.to,
            "status": status,
            "error": detail,
        },
        "appointment": appointment,
    })
}

/// Queues `call.completed` for call `call_sid`, which just ended (inside the caller's
/// transaction). The outcome is `booked` when the call booked an appointment that is still
/// booked, else `no_booking`.
pub fn call_event(conn: &Connection, call_sid: &str, now: i64) -> Result<usize, DbError> {
    let call: Option<(Option<i64>, EndedCall)> = conn
        .prepare_cached(
            "SELECT tenant_id, status, direction, from_number, to_number, started_at, ended_at, duration_seconds
             FROM calls WHERE call_sid = ?1",
        )?
        .query_row([call_sid], |r| {
            Ok((
                r.get(0)?,
                EndedCall {
                    status: r.get(1)?,
                    direction: r.get(2)?,
                    from: r.get(3)?,
                    to: r.get(4)?,
                    started_at: r.get(5)?,
                    ended_at: r.get(6)?,
                    duration_seconds: r.get(7)?,
                },
            ))
        })
        .optional()?;
    let Some((Some(tenant), call)) = call else {
        return Ok(0);
    };
    if !wanted(conn, tenant, "call.completed")? {
        return Ok(0);
    }
    let booked: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM appointments WHERE tenant_id = ?1 AND call_sid = ?2 AND status = 'booked'
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![tenant, call_sid], |r| r.get(0))
        .optional()?;
    let appointment = match booked {
        Some(a) => crate::db::appointments::admin_json_of(conn, tenant, a)?,
        None => Value::Null,
    };
    let data = call_data(call_sid, &call, booked.is_some(), appointment);
    enqueue(conn, tenant, "call.completed", booked, data, now)
}

/// The columns of an ended call that its `call.completed` event shows (the `SELECT`
/// both backends run: status, direction, from_number, to_number, started_at, ended_at,
/// duration_seconds).
pub(crate) struct EndedCall {
    pub status: String,
    pub direction: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub duration_seconds: Option<i64>,
}

/// A `call.completed` event's `data` for an inbound call; `booked` when the call's
/// booking is still booked (then `appointment` is it).
pub(crate) fn call_data(
    call_sid: &str,
    call: &EndedCall,
    booked: bool,
    appointment: Value,
) -> Value {
    json!({
        "call": {
            "call_sid": call_sid,
            "status": call.status,
            "direction": call.direction,
            "from": call.from,
            "to": call.to,
            "started_at": call.started_at,
            "ended_at": call.ended_at,
            "duration_seconds": call.duration_seconds,
        },
        "outcome": if booked { "booked" } else { "no_booking" },
        "appointment": appointment,
    })
}

/// Queues `call.completed` for reminder call `id` (an outbound attempt), which just ended
/// (inside the caller's transaction): the outcome is what the attempt came to (`confirmed`,
/// `cancelled`, `rescheduled`, `stopped`, `voicemail`, `no_answer`, `busy`, `failed`, ...),
/// with the appointment it was about.
pub fn reminder_call_event(conn: &Connection, id: i64, now: i64) -> Result<usize, DbError> {
    let row: Option<(i64, i64, ReminderAttempt)> = conn
        .prepare_cached(
            "SELECT tenant_id, appointment_id, call_sid, to_number, outcome, duration_seconds, attempt
             FROM reminder_calls WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                ReminderAttempt {
                    call_sid: r.get(2)?,
                    to: r.get(3)?,
                    outcome: r.get(4)?,
                    duration_seconds: r.get(5)?,
                    attempt: r.get(6)?,
                },
            ))
        })
        .optional()?;
    let Some((tenant, appointment, attempt)) = row else {
        return Ok(0);
    };
    if !wanted(conn, tenant, "call.completed")? {
        return Ok(0);
    }
    let appointment_json = crate::db::appointments::admin_json_of(conn, tenant, appointment)?;
    let data = reminder_call_data(&attempt, appointment_json);
    enqueue(conn, tenant, "call.completed", Some(appointment), data, now)
}

/// The columns of a reminder call attempt that its `call.completed` event shows
/// (call_sid, to_number, outcome, duration_seconds, attempt).
pub(crate) struct ReminderAttempt {
    pub call_sid: Option<String>,
    pub to: String,
    pub outcome: Option<String>,
    pub duration_seconds: Option<i64>,
    pub attempt: i64,
}

/// A reminder call's `call.completed` event `data`, with the appointment it was about.
pub(crate) fn reminder_call_data(call: &ReminderAttempt, appointment: Value) -> Value {
    json!({
        "call": {
            "call_sid": call.call_sid,
            "direction": "outbound",
            "purpose": "reminder",
            "attempt": call.attempt,
            "to": call.to,
            "duration_seconds": call.duration_seconds,
        },
        "outcome": call.outcome,
        "appointment": appointment,
    })
}
