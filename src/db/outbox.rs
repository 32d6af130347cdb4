//! The SMS outbox, opt-outs and handled messaging events. A text is a row here before it
//! is anything else: queued in the transaction that calls for it, claimed by the worker
//! with a lease (`queued` → `sending`), and finished as `sent`, `failed`, `dry_run`,
//! `skipped` or `cancelled`; delivery webhooks move `sent` to `delivered` or `failed`. A
//! status never moves backwards, so duplicate and out-of-order webhooks are harmless.
//! A send whose outcome is unknown stays `sending`, held (`faults`). Opt-outs and handled
//! webhook events live in `db::messaging`.

use jiff::{Timestamp, tz::TimeZone};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::DbError;
use crate::sms::{Kind, PlannedText, reminders};

/// Queues `texts` for an appointment (inside the caller's transaction). Texts to a number
/// that opted out are not queued; one already queued for the same (appointment, kind,
/// time) is not queued twice. Returns how many were queued.
///
/// Up to [`ROWS_PER_INSERT`] texts go in one multi-row `INSERT`: SQLite checks the
/// outbox's `kind IN (...)` and `status IN (...)` constraints and its `outbox_finished`
/// index condition against a temporary b-tree built once per statement run, so one
/// statement for a booking's texts builds them once instead of once per text.
pub fn queue_planned(
    conn: &Connection,
    tenant_id: i64,
    appointment_id: i64,
    texts: &[PlannedText],
    now: i64,
) -> Result<usize, DbError> {
    let mut wanted = Vec::with_capacity(texts.len());
    for t in texts {
        if !super::messaging::is_opted_out(conn, &t.to, t.messaging_profile_id.as_deref())? {
            wanted.push(t);
        }
    }
    let mut queued = 0;
    for chunk in wanted.chunks(ROWS_PER_INSERT) {
        let mut stmt = conn.prepare_cached(&insert_planned_sql(chunk.len()))?;
        let kinds: Vec<&str> = chunk.iter().map(|t| t.kind.as_str()).collect();
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&tenant_id, &appointment_id, &now];
        for (t, kind) in chunk.iter().zip(&kinds) {
            values.extend([
                kind as &dyn rusqlite::ToSql,
                &t.to,
                &t.from,
                &t.messaging_profile_id,
                &t.due_at,
            ]);
        }
        queued += stmt.execute(values.as_slice())?;
    }
    Ok(queued)
}

/// Most planned texts one `INSERT` of [`queue_planned`] takes (a booking plans a
/// confirmation and a reminder or two); more go in further statements.
const ROWS_PER_INSERT: usize = 4;

/// The `INSERT` of `rows` planned texts: `?1` tenant, `?2` appointment, `?3` now, then
/// kind, to, from, profile and due time of each text.
fn insert_planned_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let p = 4 + 5 * i;
            format!(
                "(?1, ?2, ?{p}, ?{}, ?{}, ?{}, ?{}, ?3, ?3)",
                p + 1,
                p + 2,
                p + 3,
                p + 4
            )
        })
        .collect();
    format!(
        "INSERT INTO outbox (tenant_id, appointment_id, kind, to_number, from_number,
            messaging_profile_id, due_at, created_at, updated_at)
         VALUES {}
         ON CONFLICT DO NOTHING",
        values.join(", ")
    )
}

/// Queues one text outside any appointment plan: a `cancelled` confirmation (rendered
/// when sent) or a `reply` whose `text` is fixed now. Nothing is queued to an opted-out
/// number; returns whether it was queued.
#[allow(clippy::too_many_arguments)]
pub fn queue_one(
    conn: &Connection,
    tenant_id: i64,
    appointment_id: Option<i64>,
    kind: Kind,
    to: &str,
    from: &str,
    profile: Option<&str>,
    text: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    if super::messaging::is_opted_out(conn, to, profile)? {
        return Ok(false);
    }
    let n = conn
        .prepare_cached(
            "INSERT INTO outbox (tenant_id, appointment_id, kind, to_number, from_number,
                messaging_profile_id, due_at, text, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?7)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            tenant_id,
            appointment_id,
            kind.as_str(),
            to,
            from,
            profile,
            now,
            text
        ])?;
    Ok(n == 1)
}

/// Cancels the appointment's texts that are still waiting (confirmation and reminders);
/// returns how many. Call it whenever an appointment is cancelled.
pub fn cancel_texts_for(conn: &Connection, appointment_id: i64) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET status = 'cancelled', last_error = 'appointment cancelled', updated_at = ?2
             WHERE appointment_id = ?1 AND status = 'queued' AND kind IN ('confirmation', 'reminder', 'moved')",
        )?
        .execute(params![appointment_id, Timestamp::now().as_second()])?)
}

/// Re-plans the appointment's reminders from its current start time: waiting reminders
/// are cancelled and new ones queued by the usual rules. Call it whenever an appointment
/// moves (in the same transaction). Returns how many reminders are now queued.
pub fn replan_texts_for(
    conn: &Connection,
    appointment_id: i64,
    default_profile: Option<&str>,
    now: Timestamp,
) -> Result<usize, DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'cancelled', last_error = 'appointment moved', updated_at = ?2
         WHERE appointment_id = ?1 AND status = 'queued' AND kind = 'reminder'",
    )?
    .execute(params![appointment_id, now.as_second()])?;
    let row: Option<(i64, i64, Option<String>, String)> = conn
        .query_row(
            "SELECT tenant_id, start_at, customer_phone, status FROM appointments WHERE id = ?1",
            [appointment_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((tenant_id, start, phone, status)) = row else {
        return Err(DbError::NotFound);
    };
    if status != "booked" {
        return Ok(0);
    }
    let tenant = super::tenants::load(conn, tenant_id)?;
    let start = Timestamp::from_second(start).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let plan: Vec<PlannedText> =
        reminders::plan_texts(&tenant.spec, default_profile, phone.as_deref(), start, now)
            .into_iter()
            .filter(|t| t.kind == Kind::Reminder)
            .collect();
    queue_planned(conn, tenant_id, appointment_id, &plan, now.as_second())
}

/// A row the worker may send now, with what pacing needs. Sender and profile are the
/// tenant's as they are now, not as they were when the text was queued.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Outbox id.
    pub id: i64,
    /// Sender (pacing is per sender): the tenant's `sms_from`, else its `phone_number`.
    pub from: String,
    /// The tenant's `messaging_profile_id` (the default profile applies when `None`).
    pub profile: Option<String>,
    /// The tenant's `sms_rate_per_second`.
    pub rate: f64,
}

/// Queued rows due at `now` (seconds, business clock) whose retry time has come (`now_ms`,
/// wall clock), soonest first, but at most `per_sender` from any one sender and none from
/// the senders in `paced` (they are ahead of their rate): one sender's backlog cannot fill
/// the batch and starve the others. Lease-expired rows are dealt with by
/// [`sweep_leases`], not here.
pub fn candidates(
    conn: &Connection,
    now: i64,
    now_ms: i64,
    paced: &[String],
    per_sender: usize,
    limit: usize,
) -> Result<Vec<Candidate>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, sender, profile, rate FROM (
            SELECT o.id, o.due_at, COALESCE(t.sms_from, t.phone_number) AS sender,
                   t.messaging_profile_id AS profile, t.sms_rate_per_second AS rate,
                   ROW_NUMBER() OVER (PARTITION BY COALESCE(t.sms_from, t.phone_number)
                                      ORDER BY o.due_at, o.id) AS rn
            FROM outbox o JOIN tenants t ON t.id = o.tenant_id
            WHERE o.status = 'queued' AND o.due_at <= ?1 AND o.next_attempt_ms <= ?2
              AND COALESCE(t.sms_from, t.phone_number) NOT IN (SELECT value FROM json_each(?3))
         ) WHERE rn <= ?4 ORDER BY due_at, id LIMIT ?5",
    )?;
    let paced = serde_json::to_string(paced).unwrap_or_else(|_| "[]".into());
    let rows = stmt.query_map(
        params![now, now_ms, paced, per_sender as i64, limit as i64],
        |r| {
            Ok(Candidate {
                id: r.get(0)?,
                from: r.get(1)?,
                profile: r.get(2)?,
                rate: r.get(3)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Everything the worker needs to decide about and send one claimed text.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Outbox id.
    pub id: i64,
    /// What the text is for.
    pub kind: Kind,
    /// Recipient.
    pub to: String,
    /// Sender: the tenant's current `sms_from`, else its `phone_number`.
    pub from: String,
    /// The tenant's current messaging profile (`None`: the default applies).
    pub profile: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// Text fixed at queue time, if any.
    pub text: Option<String>,
    /// The appointment, when the text is about one.
    pub appointment: Option<AppointmentFacts>,
}

/// The appointment as a text describes it, read at send time.
#[derive(Debug, Clone)]
pub struct AppointmentFacts {
    /// `booked` or `cancelled`.
    pub status: String,
    /// Start, Unix seconds.
    pub start: i64,
    /// Service name.
    pub service: String,
    /// Provider name.
    pub provider: String,
    /// Business name.
    pub business: String,
    /// Tenant's time zone.
    pub tz: TimeZone,
    /// Tenant's phone number.
    pub phone: String,
    /// The caller's name, as booked.
    pub customer_name: String,
    /// The tenant's `sms_confirmation` wording, if it has its own.
    pub sms_confirmation: Option<String>,
    /// The tenant's `sms_reminder` wording, if it has its own.
    pub sms_reminder: Option<String>,
    /// The tenant's `sms_moved` wording, if it has its own.
    pub sms_moved: Option<String>,
}

/// Claims queued row `id` for `lease_ms` (counting an attempt) if it is still due; `None`
/// when another worker got it first or it is no longer due. Sender and profile are read
/// from the tenant now (a tenant PATCH applies to texts already queued).
pub fn claim(
    conn: &mut Connection,
    id: i64,
    now: i64,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<Claimed>, DbError> {
    let tx = crate::db::begin(conn)?;
    let row = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until_ms = ?4,
                request_started_ms = NULL, updated_at = ?2
             WHERE id = ?1 AND status = 'queued' AND due_at <= ?2 AND next_attempt_ms <= ?3
             RETURNING kind, to_number, tenant_id, attempts, text, appointment_id",
        )?
        .query_row(params![id, now, now_ms, now_ms + lease_ms], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })
        .optional()?;
    let Some((kind, to, tenant_id, attempts, text, appointment_id)) = row else {
        return Ok(None);
    };
    let kind = Kind::parse(&kind).ok_or_else(|| DbError::Corrupt(format!("outbox kind {kind}")))?;
    let (from, profile) = tx
        .prepare_cached(
            "SELECT COALESCE(sms_from, phone_number), messaging_profile_id FROM tenants WHERE id = ?1",
        )?
        .query_row([tenant_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let appointment = appointment_facts_tx(&tx, appointment_id)?;
    tx.commit()?;
    Ok(Some(Claimed {
        id,
        kind,
        to,
        from,
        profile,
        attempts,
        text,
        appointment,
    }))
}

fn appointment_facts_tx(
    conn: &Connection,
    id: Option<i64>,
) -> Result<Option<AppointmentFacts>, DbError> {
    Ok(id
        .map(|a| appointment_facts(conn, a))
        .transpose()?
        .flatten())
}

fn appointment_facts(conn: &Connection, id: i64) -> Result<Option<AppointmentFacts>, DbError> {
    let row = conn
        .prepare_cached(
            "SELECT a.status, a.start_at, s.name, p.name, t.name, t.timezone, t.phone_number,
                    a.customer_name, t.sms_confirmation, t.sms_reminder, t.sms_moved
             FROM appointments a JOIN services s ON s.id = a.service_id
             JOIN providers p ON p.id = a.provider_id JOIN tenants t ON t.id = a.tenant_id
             WHERE a.id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                (
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ),
            ))
        })
        .optional()?;
    row.map(
        |(status, start, service, provider, business, tz, phone, words)| {
            let (customer_name, sms_confirmation, sms_reminder, sms_moved) = words;
            Ok(AppointmentFacts {
                status,
                start,
                service,
                provider,
                business,
                tz: crate::tzdb::get(&tz).map_err(|e| DbError::Corrupt(e.to_string()))?,
                phone,
                customer_name,
                sms_confirmation,
                sms_reminder,
                sms_moved,
            })
        },
    )
    .transpose()
}

/// Ends a claimed text without sending it (`failed`, `dry_run`, `skipped`, `cancelled`),
/// keeping the text that would have been sent.
pub fn finish(
    conn: &Connection,
    id: i64,
    status: &str,
    reason: Option<&str>,
    text: Option<&str>,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET status = ?2, last_error = COALESCE(?3, last_error), text = COALESCE(?4, text),
            lease_until_ms = NULL, updated_at = ?5
         WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, status, reason, text, Timestamp::now().as_second()])?;
    Ok(())
}

/// Records what is about to be sent (text, sender, profile) and that the request starts
/// now (`now_ms`, wall clock); from here on a lost outcome is "unknown", never re-sent.
/// Committed before the request goes out.
pub fn begin_send(
    conn: &Connection,
    id: i64,
    text: &str,
    from: &str,
    profile: Option<&str>,
    now_ms: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET text = ?2, from_number = ?3, messaging_profile_id = ?4,
            request_started_ms = ?5
         WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, text, from, profile, now_ms])?;
    Ok(())
}

/// Puts a claimed text back in the queue for another attempt at `next_ms` (wall clock);
/// only for sends Telnyx provably did not take (no connection, or an error answer).
pub fn retry_later(conn: &Connection, id: i64, next_ms: i64, reason: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'queued', next_attempt_ms = ?2, last_error = ?3,
            lease_until_ms = NULL, request_started_ms = NULL, updated_at = ?4
         WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, next_ms, reason, Timestamp::now().as_second()])?;
    Ok(())
}

/// Records that Telnyx accepted the text as `message_id` (also for a text held as
/// unknown meanwhile), then applies any delivery status
/// that arrived by webhook before this was recorded.
pub fn mark_sent(conn: &mut Connection, id: i64, message_id: &str) -> Result<(), DbError> {
    let tx = crate::db::begin(conn)?;
    // Only from `sending` (held included): a delivery webhook that matched a held text
    // first may already have moved it on.
    tx.prepare_cached(
        "UPDATE outbox SET status = 'sent', telnyx_message_id = ?2, last_error = NULL,
            lease_until_ms = NULL, unknown_since_ms = NULL, updated_at = ?3
         WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, message_id, Timestamp::now().as_second()])?;
    let early: Vec<(String, Option<String>)> = tx
        .prepare_cached(
            "SELECT status, detail FROM messaging_events WHERE telnyx_message_id = ?1 AND status IS NOT NULL",
        )?
        .query_map([message_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (status, detail) in early {
        apply_delivery_status(&tx, message_id, &status, detail.as_deref())?;
    }
    tx.commit()?;
    Ok(())
}

/// Moves the text sent as `message_id` forward to `status` (`sent`, `delivered` or
/// `failed`); never backwards, so repeats and late arrivals change nothing. Returns
/// whether a row changed.
pub fn apply_delivery_status(
    conn: &Connection,
    message_id: &str,
    status: &str,
    detail: Option<&str>,
) -> Result<bool, DbError> {
    let from: &[&str] = match status {
        "sent" => &["sending"],
        "delivered" | "failed" => &["sending", "sent"],
        _ => return Ok(false),
    };
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET status = ?2, last_error = COALESCE(?3, last_error), updated_at = ?4
             WHERE telnyx_message_id = ?1 AND status IN (SELECT value FROM json_each(?5))",
        )?
        .execute(params![
            message_id,
            status,
            detail,
            Timestamp::now().as_second(),
            serde_json::to_string(from).unwrap_or_default()
        ])?;
    if n > 0 {
        // message.delivered / message.failed, in the same transaction as the status.
        super::webhooks::message_event(
            conn,
            message_id,
            status,
            detail,
            Timestamp::now().as_second(),
        )?;
    }
    Ok(n > 0)
}

/// The next booked appointment of `customer` with the tenant that starts after `now`.
pub fn next_appointment_of(
    conn: &Connection,
    tenant_id: i64,
    customer: &str,
    now: i64,
) -> Result<Option<i64>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM appointments WHERE tenant_id = ?1 AND customer_phone = ?2
               AND status = 'booked' AND start_at > ?3 ORDER BY start_at LIMIT 1",
        )?
        .query_row(params![tenant_id, customer, now], |r| r.get(0))
        .optional()?)
}

/// A text as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// The appointment it is about, if any.
    pub appointment_id: Option<i64>,
    /// `confirmation`, `reminder`, `cancelled`, `moved` or `reply`.
    pub kind: String,
    /// Recipient (full: operator data).
    pub to: String,
    /// Sender.
    pub from: String,
    /// `queued`, `paused` (queued while sending is paused), `sending`, `unknown` (the send's
    /// outcome is unknown: held, not re-sent), `sent`, `delivered`, `failed`, `dry_run`,
    /// `skipped`, `cancelled`.
    pub status: String,
    /// Send attempts made.
    pub attempts: u32,
    /// When it is (or was) due, Unix seconds.
    pub due_at: i64,
    /// Why it failed, was skipped, is held or paused, or is being retried.
    pub last_error: Option<String>,
    /// Telnyx message id once accepted.
    pub telnyx_message_id: Option<String>,
    /// The text (once rendered).
    pub text: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Which of a tenant's texts to list, and how many.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only the texts about this appointment.
    pub appointment_id: Option<i64>,
    /// Keyset cursor: only those after this (due, id), in list order (newest first).
    pub before: Option<(i64, i64)>,
    /// Most rows answered.
    pub limit: usize,
}

/// The tenant's texts, newest first, one page of them.
pub fn list(conn: &Connection, tenant_id: i64, q: &ListQuery) -> Result<Vec<OutboxRow>, DbError> {
    let (before_due, before_id) = q.before.unwrap_or((i64::MAX, i64::MAX));
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.appointment_id, o.kind, o.to_number, o.from_number,
                CASE WHEN o.status = 'queued' AND p.reason IS NOT NULL THEN 'paused'
                     WHEN o.status = 'sending' AND o.unknown_since_ms IS NOT NULL THEN 'unknown'
                     ELSE o.status END,
                o.attempts, o.due_at,
                CASE WHEN o.status = 'queued' AND p.reason IS NOT NULL THEN p.reason
                     ELSE o.last_error END,
                o.telnyx_message_id, o.text, o.created_at, o.updated_at
         FROM outbox o JOIN tenants t ON t.id = o.tenant_id
         LEFT JOIN sms_pauses p ON p.scope = (
             SELECT scope FROM sms_pauses
             WHERE scope = '' OR scope = COALESCE(t.messaging_profile_id, o.messaging_profile_id)
             ORDER BY scope LIMIT 1)
         WHERE o.tenant_id = ?1 AND (?2 IS NULL OR o.appointment_id = ?2)
           AND (o.due_at, o.id) < (?3, ?4)
         ORDER BY o.due_at DESC, o.id DESC LIMIT ?5",
    )?;
    let args = params![
        tenant_id,
        q.appointment_id,
        before_due,
        before_id,
        q.limit as i64
    ];
    let rows = stmt.query_map(args, |r| {
        Ok(OutboxRow {
            id: r.get(0)?,
            appointment_id: r.get(1)?,
            kind: r.get(2)?,
            to: r.get(3)?,
            from: r.get(4)?,
            status: r.get(5)?,
            attempts: r.get(6)?,
            due_at: r.get(7)?,
            last_error: r.get(8)?,
            telnyx_message_id: r.get(9)?,
            text: r.get(10)?,
            created_at: r.get(11)?,
            updated_at: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many of a tenant's texts are in each status, for texts due in `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Waiting (including retries).
    pub queued: u64,
    /// Being sent now.
    pub sending: u64,
    /// Outcome unknown: held, not re-sent (see docs/texts.md).
    pub unknown: u64,
    /// Accepted by Telnyx.
    pub sent: u64,
    /// Delivered to the handset.
    pub delivered: u64,
    /// Given up on, or refused.
    pub failed: u64,
    /// Recorded only (no API key).
    pub dry_run: u64,
    /// Not sent: opted out or no longer relevant.
    pub skipped: u64,
    /// Withdrawn with their appointment.
    pub cancelled: u64,
}

/// Counts of the tenant's texts by status, for texts due in `[from, to)` (Unix seconds);
/// for the stats endpoint.
pub fn counts(
    conn: &Connection,
    tenant_id: i64,
    from: i64,
    to: i64,
) -> Result<OutboxCounts, DbError> {
    let mut c = OutboxCounts::default();
    let mut stmt = conn.prepare_cached(
        "SELECT CASE WHEN status = 'sending' AND unknown_since_ms IS NOT NULL THEN 'unknown'
                     ELSE status END AS s, COUNT(*)
         FROM outbox WHERE tenant_id = ?1 AND due_at >= ?2 AND due_at < ?3 GROUP BY s",
    )?;
    for row in stmt.query_map(params![tenant_id, from, to], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (status, n) = row?;
        let slot = match status.as_str() {
            "queued" => &mut c.queued,
            "sending" => &mut c.sending,
            "unknown" => &mut c.unknown,
            "sent" => &mut c.sent,
            "delivered" => &mut c.delivered,
            "failed" => &mut c.failed,
            "dry_run" => &mut c.dry_run,
            "skipped" => &mut c.skipped,
            _ => &mut c.cancelled,
        };
        *slot = n.max(0) as u64;
    }
    Ok(c)
}

mod faults;
pub use faults::*;
mod requeue;
pub use requeue::requeue_failed;

#[cfg(test)]
mod tests;
