//! The delivery queue the webhook worker drains: due deliveries in order per appointment,
//! leased claims, and each attempt recorded with what it leads to (delivered, retried,
//! given up, the endpoint disabled after its failure streak).

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::get_endpoint;
use crate::db::DbError;

/// Wall-clock Unix milliseconds (delivery timing is operational time).
pub fn wall_ms() -> i64 {
    Timestamp::now().as_millisecond()
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
    let tx = crate::db::begin(conn)?;
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
    tx: &crate::db::Tx<'_>,
    id: i64,
    endpoint: i64,
    attempt: &Attempt,
    then: Then,
    disable_after_ms: i64,
    now: i64,
) -> Result<bool, DbError> {
    let reason = super::failure_reason(attempt);
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
    tx.execute(
        "UPDATE webhook_endpoints SET disabled_at = ?2, disabled_reason = ?3 WHERE id = ?1 AND disabled_at IS NULL",
        params![endpoint, now, super::disabled_reason(since, endpoint, &reason)],
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
