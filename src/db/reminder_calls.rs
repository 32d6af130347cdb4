//! Reminder calls and call opt-outs. A call is a row here before it is anything else:
//! planned in the booking's transaction (`queued`), claimed by the dialer with a lease
//! (`dialing`; `request_started` once the HTTP request is under way), `live` once Telnyx
//! took it, and `done` with its outcome from the status callback; or `cancelled` (the
//! appointment was cancelled or moved), `skipped` (a rule said no), `failed` (Telnyx
//! refused), `dry_run`, or `unknown` (the request may have reached Telnyx but its answer
//! was lost: never dialled again). The UNIQUE (appointment, start, reminder, attempt) key
//! makes planning and retries idempotent.

use jiff::{Timestamp, tz::TimeZone};
use rusqlite::{Connection, OptionalExtension, params};

mod dialing;
mod list;

pub(crate) use dialing::local_day_start;
pub use dialing::{Claimed, ReminderCalls, Swept};
pub use list::{CallRow, OutboundCounts};

use super::DbError;
use crate::{
    domain::{PhoneNumber, reminder_calls::ReminderCallsSpec},
    reminder_calls::plan,
};

/// A live call with no final status after this long is settled as `unknown` (ring time
/// plus the call's time limit, with room to spare), so it stops counting against the cap.
pub const STALE_LIVE_SECONDS: i64 = 900;

pub(crate) use super::tenants::corrupt;

/// A tenant's reminder-call settings and zone, `None` when it places no calls.
fn settings_of(
    conn: &Connection,
    tenant_id: i64,
) -> Result<Option<(ReminderCallsSpec, TimeZone, String)>, DbError> {
    let row: Option<(Option<String>, String, String)> = conn
        .prepare_cached("SELECT reminder_calls, timezone, phone_number FROM tenants WHERE id = ?1")?
        .query_row([tenant_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((Some(stored), tz, phone)) = row else {
        return Ok(None);
    };
    let Some(spec) = ReminderCallsSpec::from_stored(Some(&stored)).map_err(corrupt)? else {
        return Ok(None);
    };
    Ok(Some((spec, crate::tzdb::get(&tz).map_err(corrupt)?, phone)))
}

/// Plans the appointment's reminder calls from its current start, inside the caller's
/// transaction: waiting calls planned for another start are withdrawn, new ones queued by
/// [`plan::plan`]. Nothing for a tenant without reminder calls, an appointment that is not
/// booked, a number outside the tenant's country calling code or one that stopped calls.
/// Returns how many were queued.
pub fn plan_for(conn: &Connection, appointment_id: i64, now: i64) -> Result<usize, DbError> {
    let row: Option<(i64, i64, Option<String>, String)> = conn
        .prepare_cached(
            "SELECT tenant_id, start_at, customer_phone, status FROM appointments WHERE id = ?1",
        )?
        .query_row([appointment_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((tenant_id, start, phone, status)) = row else {
        return Err(DbError::NotFound);
    };
    conn.prepare_cached(
        "UPDATE reminder_calls SET status = 'cancelled', last_error = 'appointment moved', updated_at = ?3
         WHERE appointment_id = ?1 AND +status = 'queued' AND for_start != ?2",
    )?
    .execute(params![appointment_id, start, now])?;
    if status != "booked" {
        return Ok(0);
    }
    let Some((spec, tz, line)) = settings_of(conn, tenant_id)? else {
        return Ok(0);
    };
    let Some(to) = phone.and_then(|p| PhoneNumber::parse(&p).ok()) else {
        return Ok(0);
    };
    let same_country = PhoneNumber::parse(&line)
        .is_ok_and(|l| l.country_calling_code() == to.country_calling_code());
    if !same_country || is_opted_out(conn, tenant_id, to.as_str())? {
        return Ok(0);
    }
    let (start_ts, now_ts) = (
        Timestamp::from_second(start).map_err(corrupt)?,
        Timestamp::from_second(now).map_err(corrupt)?,
    );
    let mut queued = 0;
    for call in plan::plan(&spec, &tz, start_ts, now_ts) {
        queued += conn
            .prepare_cached(
                "INSERT INTO reminder_calls (tenant_id, appointment_id, for_start, hours_before, attempt,
                    to_number, due_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?7)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                tenant_id,
                appointment_id,
                start,
                call.hours_before,
                to.as_str(),
                call.due_at,
                now
            ])?;
    }
    Ok(queued)
}

/// Withdraws the appointment's waiting calls (it was cancelled); returns how many.
pub fn withdraw_for(conn: &Connection, appointment_id: i64, now: i64) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE reminder_calls SET status = 'cancelled', last_error = 'appointment cancelled', updated_at = ?2
             WHERE appointment_id = ?1 AND +status = 'queued'",
        )?
        .execute(params![appointment_id, now])?)
}

/// Whether `number` asked `tenant` to stop its calls.
pub fn is_opted_out(conn: &Connection, tenant_id: i64, number: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM call_opt_outs WHERE tenant_id = ?1 AND number = ?2")?
        .exists(params![tenant_id, number])?)
}

/// Records that `number` stopped `tenant`'s calls and withdraws its waiting calls.
pub fn opt_out(conn: &Connection, tenant_id: i64, number: &str, now: i64) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO call_opt_outs (tenant_id, number, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![tenant_id, number, now])?;
    conn.prepare_cached(
        "UPDATE reminder_calls SET status = 'skipped', outcome = 'skipped', last_error = 'the number stopped these calls', updated_at = ?3
         WHERE tenant_id = ?1 AND to_number = ?2 AND status = 'queued'",
    )?
    .execute(params![tenant_id, number, now])?;
    Ok(())
}

/// Ends a call's row with `status`, its outcome (also added to the appointment's record)
/// and the reason, if any.
pub fn close(
    conn: &Connection,
    id: i64,
    status: &str,
    outcome: Option<&str>,
    reason: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE reminder_calls SET status = ?2, outcome = COALESCE(?3, outcome), last_error = COALESCE(?4, last_error),
            lease_until_ms = NULL, ended_at = COALESCE(ended_at, ?5), updated_at = ?5 WHERE id = ?1",
    )?
    .execute(params![id, status, outcome, reason, now])?;
    if let Some(outcome) = outcome {
        note_on_appointment(conn, id, outcome, now)?;
    }
    Ok(())
}

/// Adds `{attempt, hours_before, outcome, at}` to the appointment's `reminder_calls` list.
fn note_on_appointment(conn: &Connection, id: i64, outcome: &str, now: i64) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE appointments SET reminder_calls = json_insert(reminder_calls, '$[#]',
            json_object('attempt', r.attempt, 'hours_before', r.hours_before, 'outcome', ?2, 'at', ?3))
         FROM (SELECT appointment_id, attempt, hours_before FROM reminder_calls WHERE id = ?1) AS r
         WHERE appointments.id = r.appointment_id",
    )?
    .execute(params![id, outcome, now])?;
    Ok(())
}

/// One call as the answer and callback routes see it.
#[derive(Debug, Clone)]
pub struct CallFacts {
    /// Row id.
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// The appointment.
    pub appointment_id: i64,
    /// Which reminder.
    pub hours_before: u32,
    /// 1 or 2.
    pub attempt: u32,
    /// The row's status.
    pub status: String,
    /// Its outcome so far.
    pub outcome: Option<String>,
    /// The customer.
    pub to: String,
    /// The appointment's status now.
    pub appointment_status: String,
    /// Its start now.
    pub start: i64,
    /// The start the call was planned for.
    pub for_start: i64,
    /// Service name.
    pub service: String,
    /// Provider name.
    pub provider: String,
}

/// Call `id` of `tenant_id` and its appointment as they are now.
pub fn facts(conn: &Connection, tenant_id: i64, id: i64) -> Result<Option<CallFacts>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT r.id, r.tenant_id, r.appointment_id, r.hours_before, r.attempt, r.status, r.outcome,
                    r.to_number, a.status, a.start_at, r.for_start, s.name, p.name
             FROM reminder_calls r JOIN appointments a ON a.id = r.appointment_id
             JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id
             WHERE r.id = ?1 AND r.tenant_id = ?2",
        )?
        .query_row(params![id, tenant_id], |r| {
            Ok(CallFacts {
                id: r.get(0)?,
                tenant_id: r.get(1)?,
                appointment_id: r.get(2)?,
                hours_before: r.get(3)?,
                attempt: r.get(4)?,
                status: r.get(5)?,
                outcome: r.get(6)?,
                to: r.get(7)?,
                appointment_status: r.get(8)?,
                start: r.get(9)?,
                for_start: r.get(10)?,
                service: r.get(11)?,
                provider: r.get(12)?,
            })
        })
        .optional()?)
}

/// Records what Telnyx told about the call (its sid, the AMD result), keeping what is known.
pub fn note(
    conn: &Connection,
    id: i64,
    call_sid: Option<&str>,
    answered_by: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE reminder_calls SET call_sid = COALESCE(call_sid, ?2),
            answered_by = COALESCE(?3, answered_by), updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![id, call_sid, answered_by, now])?;
    Ok(())
}

/// Sets the outcome the person chose (or the voicemail), replacing none but `no_input`.
pub fn set_outcome(conn: &Connection, id: i64, outcome: &str, now: i64) -> Result<(), DbError> {
    let n = conn
        .prepare_cached(
            "UPDATE reminder_calls SET outcome = ?2, updated_at = ?3
             WHERE id = ?1 AND (outcome IS NULL OR outcome = 'no_input')",
        )?
        .execute(params![id, outcome, now])?;
    if n == 1 {
        note_on_appointment(conn, id, outcome, now)?;
    }
    Ok(())
}

/// What a final status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Not final, or already settled (a duplicate callback).
    Nothing,
    /// Settled with this outcome; `retry` is the second attempt's due time, if planned.
    Ended {
        /// When the retry is due (Unix seconds).
        retry: Option<i64>,
    },
}

/// What final status `call_status` makes of a call row in `status` with `outcome` so
/// far: the outcome it ends with, or `None` when the status is not final or the row is
/// settled already (both stores' `settle`).
pub(crate) fn ended_as<'a>(
    status: &str,
    call_status: &str,
    outcome: Option<&'a str>,
) -> Option<&'a str> {
    if !matches!(status, "live" | "dialing" | "unknown") {
        return None;
    }
    match call_status {
        "busy" => Some("busy"),
        "no-answer" | "canceled" => Some("no_answer"),
        "failed" => Some("failed"),
        "completed" => Some(outcome.unwrap_or("no_input")),
        _ => None,
    }
}

/// Applies a final status callback (`completed`, `busy`, `no-answer`, `failed`,
/// `canceled`) to call `id`, once; after busy, no answer or failed on a first attempt a
/// retry is queued ([`plan::retry_at`]) in the same transaction.
pub fn settle(
    conn: &mut Connection,
    id: i64,
    call_status: &str,
    call_sid: Option<&str>,
    duration: Option<i64>,
    now: i64,
) -> Result<Settled, DbError> {
    let tx = crate::db::begin(conn)?;
    type Row = (String, Option<String>, u32, i64, i64, u32, i64, String, i64);
    let row: Option<Row> = tx
        .query_row(
            "SELECT r.status, r.outcome, r.attempt, r.tenant_id, r.appointment_id, r.hours_before,
                    r.for_start, r.to_number, a.start_at
             FROM reminder_calls r JOIN appointments a ON a.id = r.appointment_id WHERE r.id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            },
        )
        .optional()?;
    let Some((
        status,
        outcome,
        attempt,
        tenant_id,
        appointment_id,
        hours_before,
        for_start,
        to,
        start,
    )) = row
    else {
        return Ok(Settled::Nothing);
    };
    let Some(ended) = ended_as(&status, call_status, outcome.as_deref()) else {
        return Ok(Settled::Nothing);
    };
    tx.execute(
        "UPDATE reminder_calls SET duration_seconds = ?2, call_sid = COALESCE(call_sid, ?3) WHERE id = ?1",
        params![id, duration, call_sid],
    )?;
    let new_outcome = outcome.is_none().then_some(ended);
    close(&tx, id, "done", new_outcome, None, now)?;
    super::webhooks::reminder_call_event(&tx, id, now)?;
    let mut retry = None;
    if matches!(ended, "busy" | "no_answer" | "failed")
        && attempt < 2
        && start == for_start
        && let Some((spec, tz, _)) = settings_of(&tx, tenant_id)?
    {
        let (start_ts, now_ts) = (
            Timestamp::from_second(start).map_err(corrupt)?,
            Timestamp::from_second(now).map_err(corrupt)?,
        );
        if let Some(due) = plan::retry_at(&spec, &tz, start_ts, now_ts) {
            tx.execute(
                    "INSERT INTO reminder_calls (tenant_id, appointment_id, for_start, hours_before, attempt,
                        to_number, due_at, created_at, updated_at)
                     SELECT ?1, ?2, ?3, ?4, 2, ?5, ?6, ?7, ?7
                     WHERE EXISTS (SELECT 1 FROM appointments WHERE id = ?2 AND status = 'booked')
                     ON CONFLICT DO NOTHING",
                    params![tenant_id, appointment_id, for_start, hours_before, to, due.as_second(), now],
                )?;
            retry = Some(due.as_second());
        }
    }
    tx.commit()?;
    Ok(Settled::Ended { retry })
}
