//! Webhook endpoints, events and their delivery queue. An event is written by the
//! repository function that makes the change it reports (booking, confirming, moving,
//! cancelling, a delivery status, a call's end), inside that function's transaction, with
//! one `webhook_deliveries` row per subscribed endpoint: a change without its event cannot
//! commit, and vice versa. Nothing is written for a tenant with no endpoint that wants the
//! event. The worker (`crate::webhooks`) claims deliveries with a lease, so a restart
//! mid-send delivers again (at least once), and takes one appointment's events for an
//! endpoint only in the order they happened.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use serde_json::{Value, json};

use super::DbError;

/// The events an endpoint may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.cancelled",
    "message.delivered",
    "message.failed",
    "call.completed",
];

/// An endpoint as the admin API lists it (the secret only at creation and rotation).
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// Row id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// Event types sent there.
    pub events: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix milliseconds since when every attempt failed, if they do.
    pub failing_since_ms: Option<i64>,
    /// Unix seconds when it was disabled for failing too long.
    pub disabled_at: Option<i64>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
}

const SELECT_ENDPOINT: &str = "SELECT id, url, events, created_at, failing_since_ms, disabled_at, disabled_reason FROM webhook_endpoints";

fn endpoint(r: &rusqlite::Row) -> rusqlite::Result<Endpoint> {
    let events: String = r.get(2)?;
    Ok(Endpoint {
        id: r.get(0)?,
        url: r.get(1)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        created_at: r.get(3)?,
        failing_since_ms: r.get(4)?,
        disabled_at: r.get(5)?,
        disabled_reason: r.get(6)?,
    })
}

/// Stores an endpoint of `tenant`.
pub fn create_endpoint(
    conn: &Connection,
    tenant: i64,
    url: &str,
    events: &[String],
    secret: &str,
    now: i64,
) -> Result<Endpoint, DbError> {
    let events = serde_json::to_string(events).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO webhook_endpoints (tenant_id, url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant, url, events, secret, now],
    )?;
    get_endpoint(conn, tenant, conn.last_insert_rowid())
}

/// One endpoint of `tenant`.
pub fn get_endpoint(conn: &Connection, tenant: i64, id: i64) -> Result<Endpoint, DbError> {
    conn.query_row(
        &format!("{SELECT_ENDPOINT} WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        endpoint,
    )
    .optional()?
    .ok_or(DbError::NotFound)
}

/// The tenant's endpoints, oldest first.
pub fn list_endpoints(conn: &Connection, tenant: i64) -> Result<Vec<Endpoint>, DbError> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT_ENDPOINT} WHERE tenant_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([tenant], endpoint)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes an endpoint of `tenant` with its queue and history.
pub fn delete_endpoint(conn: &Connection, tenant: i64, id: i64) -> Result<(), DbError> {
    match conn.execute(
        "DELETE FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id],
    )? {
        0 => Err(DbError::NotFound),
        _ => Ok(()),
    }
}

/// Gives an endpoint a new secret; deliveries from now on are signed with it.
pub fn rotate_endpoint(
    conn: &Connection,
    tenant: i64,
    id: i64,
    secret: &str,
) -> Result<Endpoint, DbError> {
    match conn.execute(
        "UPDATE webhook_endpoints SET secret = ?3 WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id, secret],
    )? {
        0 => Err(DbError::NotFound),
        _ => get_endpoint(conn, tenant, id),
    }
}

/// Enables a disabled endpoint of `tenant` again and forgets its failure streak; its
/// pending deliveries go out again, each until its own retry period ends.
pub fn enable_endpoint(conn: &Connection, tenant: i64, id: i64) -> Result<Endpoint, DbError> {
    match conn.execute(
        "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, failing_since_ms = NULL
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id],
    )? {
        0 => Err(DbError::NotFound),
        _ => get_endpoint(conn, tenant, id),
    }
}

/// A random event id (`evt_` and 32 hex digits), also sent as `webhook-id`.
fn new_event_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

/// Wall-clock Unix milliseconds (delivery timing is operational time).
pub fn wall_ms() -> i64 {
    Timestamp::now().as_millisecond()
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
    let appointment = super::appointments::admin_json_of(conn, tenant, id)?;
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
    let kind = match status {
        "delivered" => "message.delivered",
        "failed" => "message.failed",
        _ => return Ok(0),
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
        Some(a) => super::appointments::admin_json_of(conn, tenant, a)?,
        None => Value::Null,
    };
    let data = json!({
        "message": {
            "id": id,
            "telnyx_message_id": message_id,
            "kind": text_kind,
            "to": to,
            "status": status,
            "error": detail,
        },
        "appointment": appointment_json,
    });
    enqueue(conn, tenant, kind, appointment, data, now)
}

/// Queues `call.completed` for call `call_sid`, which just ended (inside the caller's
/// transaction). The outcome is `booked` when the call booked an appointment that is still
/// booked, else `no_booking`.
pub fn call_event(conn: &Connection, call_sid: &str, now: i64) -> Result<usize, DbError> {
    type CallRow = (
        Option<i64>,
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
        Option<i64>,
        Option<i64>,
    );
    let call: Option<CallRow> = conn
        .prepare_cached(
            "SELECT tenant_id, status, direction, from_number, to_number, started_at, ended_at, duration_seconds
             FROM calls WHERE call_sid = ?1",
        )?
        .query_row([call_sid], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?;
    let Some((Some(tenant), status, direction, from, to, started, ended, duration)) = call else {
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
        Some(a) => super::appointments::admin_json_of(conn, tenant, a)?,
        None => Value::Null,
    };
    let data = json!({
        "call": {
            "call_sid": call_sid,
            "status": status,
            "direction": direction,
            "from": from,
            "to": to,
            "started_at": started,
            "ended_at": ended,
            "duration_seconds": duration,
        },
        "outcome": if booked.is_some() { "booked" } else { "no_booking" },
        "appointment": appointment,
    });
    enqueue(conn, tenant, "call.completed", booked, data, now)
}

/// A delivery the worker may attempt now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Delivery id.
    pub id: i64,
    /// Its endpoint.
    pub endpoint: i64,
}

/// Pending deliveries due at `now_ms`, not leased, of live endpoints not in `busy`, at most
/// one per endpoint and none with an earlier pending delivery of the same appointment to
/// the same endpoint; soonest first.
pub fn candidates(
    conn: &Connection,
    now_ms: i64,
    busy: &[i64],
    limit: usize,
) -> Result<Vec<Candidate>, DbError> {
    let busy = serde_json::to_string(busy).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT id, endpoint_id FROM (
            SELECT d.id, d.endpoint_id, d.next_attempt_ms,
                   ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.event_id) AS rn
            FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
            WHERE d.status = 'pending' AND d.next_attempt_ms <= ?1
              AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= ?1)
              AND w.disabled_at IS NULL
              AND d.endpoint_id NOT IN (SELECT value FROM json_each(?2))
              AND NOT EXISTS (
                  SELECT 1 FROM webhook_deliveries e
                  WHERE e.endpoint_id = d.endpoint_id AND e.status = 'pending'
                    AND e.appointment_id = d.appointment_id AND e.event_id < d.event_id)
         ) WHERE rn = 1 ORDER BY next_attempt_ms, id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![now_ms, busy, limit as i64], |r| {
        Ok(Candidate {
            id: r.get(0)?,
            endpoint: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A claimed delivery: everything needed to send it.
#[derive(Clone)]
pub struct Claimed {
    /// Delivery id.
    pub id: i64,
    /// Endpoint id.
    pub endpoint: i64,
    /// Endpoint URL.
    pub url: String,
    /// Endpoint secret (`whsec_…`).
    pub secret: String,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The JSON body.
    pub payload: String,
    /// Attempts before this one.
    pub attempts: i64,
    /// When the delivery was queued (wall ms), for the retry deadline.
    pub created_ms: i64,
}

/// Leases delivery `id` until `lease_until_ms` unless another worker has it; the claim
/// survives a restart only as long as the lease.
pub fn claim(
    conn: &Connection,
    id: i64,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<Option<Claimed>, DbError> {
    let n = conn.execute(
        "UPDATE webhook_deliveries SET lease_until_ms = ?3
         WHERE id = ?1 AND status = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms <= ?2)",
        params![id, now_ms, lease_until_ms],
    )?;
    if n == 0 {
        return Ok(None);
    }
    Ok(conn
        .query_row(
            "SELECT d.id, d.endpoint_id, w.url, w.secret, e.event_id, e.payload, d.attempts, d.created_ms
             FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
             JOIN webhook_events e ON e.id = d.event_id WHERE d.id = ?1",
            [id],
            |r| {
                Ok(Claimed {
                    id: r.get(0)?,
                    endpoint: r.get(1)?,
                    url: r.get(2)?,
                    secret: r.get(3)?,
                    event_id: r.get(4)?,
                    payload: r.get(5)?,
                    attempts: r.get(6)?,
                    created_ms: r.get(7)?,
                })
            },
        )
        .optional()?)
}

/// One attempt's result.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Wall ms when it started.
    pub at_ms: i64,
    /// The HTTP status answered, if any.
    pub http_status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

impl Attempt {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy)]
pub enum Then {
    /// Try again at this wall ms.
    RetryAt(i64),
    /// Stop: the retry period is over.
    GiveUp,
}

/// Records an attempt of delivery `id` and settles it: delivered on success; otherwise
/// retried or given up per `then`, and the endpoint's failure streak extended, disabling
/// it once the streak has lasted `disable_after_ms`. Returns whether the endpoint was
/// disabled by this attempt.
pub fn record_attempt(
    conn: &mut Connection,
    id: i64,
    attempt: &Attempt,
    then: Then,
    disable_after_ms: i64,
    now: i64,
) -> Result<bool, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let endpoint: Option<i64> = tx
        .query_row(
            "SELECT endpoint_id FROM webhook_deliveries WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    // The endpoint was deleted while the attempt was in flight.
    let Some(endpoint) = endpoint else {
        return Ok(false);
    };
    tx.execute(
        "INSERT INTO webhook_attempts (delivery_id, attempted_ms, http_status, error, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            attempt.at_ms,
            attempt.http_status,
            attempt.error,
            attempt.duration_ms
        ],
    )?;
    let disabled = if attempt.succeeded() {
        tx.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,
                lease_until_ms = NULL, last_error = NULL WHERE id = ?1",
            [id],
        )?;
        tx.execute(
            "UPDATE webhook_endpoints SET failing_since_ms = NULL WHERE id = ?1",
            [endpoint],
        )?;
        false
    } else {
        fail(&tx, id, endpoint, attempt, then, disable_after_ms, now)?
    };
    tx.commit()?;
    Ok(disabled)
}

fn fail(
    tx: &Transaction,
    id: i64,
    endpoint: i64,
    attempt: &Attempt,
    then: Then,
    disable_after_ms: i64,
    now: i64,
) -> Result<bool, DbError> {
    let reason = attempt
        .error
        .clone()
        .or_else(|| attempt.http_status.map(|s| format!("answered HTTP {s}")))
        .unwrap_or_else(|| "failed".into());
    match then {
        Then::RetryAt(at) => tx.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_ms = ?2,
                lease_until_ms = NULL, last_error = ?3 WHERE id = ?1",
            params![id, at, reason],
        )?,
        Then::GiveUp => tx.execute(
            "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,
                lease_until_ms = NULL, last_error = ?2 WHERE id = ?1",
            params![id, format!("gave up after the retry period: {reason}")],
        )?,
    };
    tx.execute(
        "UPDATE webhook_endpoints SET failing_since_ms = COALESCE(failing_since_ms, ?2) WHERE id = ?1",
        params![endpoint, attempt.at_ms],
    )?;
    let since: i64 = tx.query_row(
        "SELECT failing_since_ms FROM webhook_endpoints WHERE id = ?1",
        [endpoint],
        |r| r.get(0),
    )?;
    if attempt.at_ms - since < disable_after_ms {
        return Ok(false);
    }
    let since_text = Timestamp::from_millisecond(since)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let why = format!(
        "every delivery failed since {since_text}; last error: {reason}. Fix the endpoint, then POST /tenants/{{id}}/webhooks/{endpoint}/enable"
    );
    tx.execute(
        "UPDATE webhook_endpoints SET disabled_at = ?2, disabled_reason = ?3 WHERE id = ?1 AND disabled_at IS NULL",
        params![endpoint, now, why],
    )?;
    Ok(true)
}

/// One delivery as `GET …/webhooks/{w}/deliveries` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    /// Delivery id.
    pub id: i64,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The appointment it is about, if any.
    pub appointment_id: Option<i64>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Wall ms of the next attempt, while pending.
    pub next_attempt_ms: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Every attempt, oldest first.
    pub history: Vec<AttemptRow>,
}

/// One recorded attempt.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRow {
    /// Wall ms when it started.
    pub at_ms: i64,
    /// The HTTP status answered, if any.
    pub http_status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// The newest `limit` deliveries to endpoint `endpoint` of `tenant`, newest first.
pub fn deliveries(
    conn: &Connection,
    tenant: i64,
    endpoint: i64,
    limit: usize,
) -> Result<Vec<DeliveryRow>, DbError> {
    get_endpoint(conn, tenant, endpoint)?;
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, e.event_id, e.type, d.appointment_id, d.status, d.attempts, d.next_attempt_ms, d.last_error
         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
         WHERE d.endpoint_id = ?1 ORDER BY d.id DESC LIMIT ?2",
    )?;
    let mut rows: Vec<DeliveryRow> = stmt
        .query_map(params![endpoint, limit as i64], |r| {
            let status: String = r.get(4)?;
            Ok(DeliveryRow {
                id: r.get(0)?,
                event_id: r.get(1)?,
                kind: r.get(2)?,
                appointment_id: r.get(3)?,
                next_attempt_ms: (status == "pending").then(|| r.get(6)).transpose()?,
                status,
                attempts: r.get(5)?,
                last_error: r.get(7)?,
                history: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut attempts = conn.prepare_cached(
        "SELECT attempted_ms, http_status, error, duration_ms FROM webhook_attempts
         WHERE delivery_id = ?1 ORDER BY id",
    )?;
    for row in &mut rows {
        row.history = attempts
            .query_map([row.id], |r| {
                Ok(AttemptRow {
                    at_ms: r.get(0)?,
                    http_status: r.get(1)?,
                    error: r.get(2)?,
                    duration_ms: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests;
