//! Reminder calls as the changes of an appointment and the answers of a reminder call
//! touch them, on PostgreSQL: the twins of `db::reminder_calls`'s planning (`plan_for`,
//! `withdraw_for`, run in the booking's, move's or cancellation's transaction), the call
//! opt-outs, and what a reminder call's answers and status callbacks record (`facts`,
//! `note`, `set_outcome`, `close`, `settle`). The dialer's queue is elsewhere.

use super::cached::Cached;
use deadpool_postgres::{GenericClient, Transaction};
use jiff::{Timestamp, tz::TimeZone};

use super::{Pg, ints::exact};
use crate::{
    db::{
        DbError,
        reminder_calls::{CallFacts, Settled, ended_as},
        tenants::corrupt,
    },
    domain::{PhoneNumber, reminder_calls::ReminderCallsSpec},
    reminder_calls::plan,
};

fn at(secs: i64) -> Result<Timestamp, DbError> {
    Timestamp::from_second(secs).map_err(corrupt)
}

/// A tenant's reminder-call settings, zone and line, `None` when it places no calls.
async fn settings_of(
    c: &impl GenericClient,
    tenant_id: i64,
) -> Result<Option<(ReminderCallsSpec, TimeZone, String)>, DbError> {
    let Some(row) = c
        .query_opt_cached(
            "SELECT reminder_calls, timezone, phone_number FROM tenants WHERE id = $1",
            &[&tenant_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let stored: Option<String> = row.get(0);
    let Some(stored) = stored else {
        return Ok(None);
    };
    let Some(spec) = ReminderCallsSpec::from_stored(Some(&stored)).map_err(corrupt)? else {
        return Ok(None);
    };
    let tz = crate::tzdb::get(row.get::<_, &str>(1)).map_err(corrupt)?;
    Ok(Some((spec, tz, row.get(2))))
}

/// Plans the appointment's reminder calls from its current start: waiting calls planned
/// for another start are withdrawn, new ones queued by [`plan::plan`] (nothing for a
/// tenant without reminder calls, an appointment not booked, a number outside the line's
/// country calling code or one that stopped calls). Returns how many were queued.
pub async fn plan_for(
    tx: &Transaction<'_>,
    appointment_id: i64,
    now: i64,
) -> Result<usize, DbError> {
    let (tenant_id, start, phone, status) =
        super::text_plans::planned_from(tx, appointment_id).await?;
    tx.execute_cached(
        "UPDATE reminder_calls SET status = 'cancelled', last_error = 'appointment moved', updated_at = $3
         WHERE appointment_id = $1 AND status = 'queued' AND for_start <> $2",
        &[&appointment_id, &start, &now],
    )
    .await?;
    if status != "booked" {
        return Ok(0);
    }
    let Some((spec, tz, line)) = settings_of(tx, tenant_id).await? else {
        return Ok(0);
    };
    let Some(to) = phone.and_then(|p| PhoneNumber::parse(&p).ok()) else {
        return Ok(0);
    };
    let same_country = PhoneNumber::parse(&line)
        .is_ok_and(|l| l.country_calling_code() == to.country_calling_code());
    if !same_country || is_opted_out(tx, tenant_id, to.as_str()).await? {
        return Ok(0);
    }
    let mut queued = 0;
    for call in plan::plan(&spec, &tz, at(start)?, at(now)?) {
        queued += tx
            .execute_cached(
                "INSERT INTO reminder_calls (tenant_id, appointment_id, for_start, hours_before, attempt,
                    to_number, due_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $7)
                 ON CONFLICT DO NOTHING",
                &[
                    &tenant_id,
                    &appointment_id,
                    &start,
                    &i64::from(call.hours_before),
                    &to.as_str(),
                    &call.due_at,
                    &now,
                ],
            )
            .await? as usize;
    }
    Ok(queued)
}

/// Withdraws the appointment's waiting calls (it was cancelled); returns how many.
pub async fn withdraw_for(
    tx: &Transaction<'_>,
    appointment_id: i64,
    now: i64,
) -> Result<u64, DbError> {
    Ok(tx
        .execute_cached(
            "UPDATE reminder_calls SET status = 'cancelled', last_error = 'appointment cancelled', updated_at = $2
             WHERE appointment_id = $1 AND status = 'queued'",
            &[&appointment_id, &now],
        )
        .await?)
}

/// Whether `number` asked `tenant` to stop its calls.
pub async fn is_opted_out(
    c: &impl GenericClient,
    tenant_id: i64,
    number: &str,
) -> Result<bool, DbError> {
    Ok(c.query_opt_cached(
        "SELECT 1 FROM call_opt_outs WHERE tenant_id = $1 AND number = $2",
        &[&tenant_id, &number],
    )
    .await?
    .is_some())
}

/// Records that `number` stopped `tenant`'s calls and skips its waiting calls.
pub async fn opt_out(pg: &Pg, tenant_id: i64, number: &str, now: i64) -> Result<(), DbError> {
    pg.write(async |tx| {
        tx.execute_cached(
            "INSERT INTO call_opt_outs (tenant_id, number, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&tenant_id, &number, &now],
        )
        .await?;
        tx.execute_cached(
            "UPDATE reminder_calls SET status = 'skipped', outcome = 'skipped', last_error = 'the number stopped these calls', updated_at = $3
             WHERE tenant_id = $1 AND to_number = $2 AND status = 'queued'",
            &[&tenant_id, &number, &now],
        )
        .await?;
        Ok(())
    })
    .await
}

/// Ends a call's row with `status`, its outcome (also added to the appointment's record)
/// and the reason, if any.
pub async fn close(
    tx: &Transaction<'_>,
    id: i64,
    status: &str,
    outcome: Option<&str>,
    reason: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    tx.execute_cached(
        "UPDATE reminder_calls SET status = $2, outcome = COALESCE($3, outcome), last_error = COALESCE($4, last_error),
            lease_until_ms = NULL, ended_at = COALESCE(ended_at, $5), updated_at = $5 WHERE id = $1",
        &[&id, &status, &outcome, &reason, &now],
    )
    .await?;
    if let Some(outcome) = outcome {
        note_on_appointment(tx, id, outcome, now).await?;
    }
    Ok(())
}

/// Adds `{attempt, hours_before, outcome, at}` to the appointment's `reminder_calls` list.
async fn note_on_appointment(
    tx: &Transaction<'_>,
    id: i64,
    outcome: &str,
    now: i64,
) -> Result<(), DbError> {
    tx.execute_cached(
        "UPDATE appointments a SET reminder_calls = (a.reminder_calls::jsonb || jsonb_build_array(
            jsonb_build_object('attempt', r.attempt, 'hours_before', r.hours_before,
                               'outcome', $2::TEXT, 'at', $3::BIGINT)))::TEXT
         FROM reminder_calls r WHERE r.id = $1 AND a.id = r.appointment_id",
        &[&id, &outcome, &now],
    )
    .await?;
    Ok(())
}

/// Call `id` of `tenant_id` and its appointment as they are now.
pub async fn facts(pg: &Pg, tenant_id: i64, id: i64) -> Result<Option<CallFacts>, DbError> {
    pg.run(async |c| {
        let row = c
            .query_opt_cached(
                "SELECT r.id, r.tenant_id, r.appointment_id, r.hours_before, r.attempt, r.status, r.outcome,
                        r.to_number, a.status, a.start_at, r.for_start, s.name, p.name
                 FROM reminder_calls r JOIN appointments a ON a.id = r.appointment_id
                 JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id
                 WHERE r.id = $1 AND r.tenant_id = $2",
                &[&id, &tenant_id],
            )
            .await?;
        row.map(|r| {
            Ok(CallFacts {
                id: r.get(0),
                tenant_id: r.get(1),
                appointment_id: r.get(2),
                hours_before: exact(r.get(3))?,
                attempt: exact(r.get(4))?,
                status: r.get(5),
                outcome: r.get(6),
                to: r.get(7),
                appointment_status: r.get(8),
                start: r.get(9),
                for_start: r.get(10),
                service: r.get(11),
                provider: r.get(12),
            })
        })
        .transpose()
    })
    .await
}

/// Records what Telnyx told about the call (its sid, the AMD result), keeping what is known.
pub async fn note(
    pg: &Pg,
    id: i64,
    call_sid: Option<&str>,
    answered_by: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    pg.write(async |tx| {
        tx.execute_cached(
            "UPDATE reminder_calls SET call_sid = COALESCE(call_sid, $2),
                answered_by = COALESCE($3, answered_by), updated_at = $4 WHERE id = $1",
            &[&id, &call_sid, &answered_by, &now],
        )
        .await?;
        Ok(())
    })
    .await
}

/// Sets the outcome the person chose (or the voicemail), replacing none but `no_input`.
pub async fn set_outcome(pg: &Pg, id: i64, outcome: &str, now: i64) -> Result<(), DbError> {
    pg.write(async |tx| {
        let n = tx
            .execute_cached(
                "UPDATE reminder_calls SET outcome = $2, updated_at = $3
                 WHERE id = $1 AND (outcome IS NULL OR outcome = 'no_input')",
                &[&id, &outcome, &now],
            )
            .await?;
        if n == 1 {
            note_on_appointment(tx, id, outcome, now).await?;
        }
        Ok(())
    })
    .await
}

/// Applies a final status callback to call `id`, once (the row is locked first, so two
/// nodes' duplicates settle it once); after busy, no answer or failed on a first attempt
/// a retry is queued ([`plan::retry_at`]) in the same transaction.
pub async fn settle(
    pg: &Pg,
    id: i64,
    call_status: &str,
    call_sid: Option<&str>,
    duration: Option<i64>,
    now: i64,
) -> Result<Settled, DbError> {
    pg.write(async |tx| {
        let Some(row) = tx
            .query_opt_cached(
                "SELECT r.status, r.outcome, r.attempt, r.tenant_id, r.appointment_id, r.hours_before,
                        r.for_start, r.to_number, a.start_at
                 FROM reminder_calls r JOIN appointments a ON a.id = r.appointment_id WHERE r.id = $1
                 FOR UPDATE OF r",
                &[&id],
            )
            .await?
        else {
            return Ok(Settled::Nothing);
        };
        let (status, outcome, attempt): (String, Option<String>, i64) =
            (row.get(0), row.get(1), row.get(2));
        let (tenant_id, appointment_id, hours_before): (i64, i64, i64) =
            (row.get(3), row.get(4), row.get(5));
        let (for_start, to, start): (i64, String, i64) = (row.get(6), row.get(7), row.get(8));
        let Some(ended) = ended_as(&status, call_status, outcome.as_deref()) else {
            return Ok(Settled::Nothing);
        };
        tx.execute_cached(
            "UPDATE reminder_calls SET duration_seconds = $2, call_sid = COALESCE(call_sid, $3) WHERE id = $1",
            &[&id, &duration, &call_sid],
        )
        .await?;
        let new_outcome = outcome.is_none().then_some(ended);
        close(tx, id, "done", new_outcome, None, now).await?;
        super::events::reminder_call_event(tx, id, now).await?;
        let mut retry = None;
        if matches!(ended, "busy" | "no_answer" | "failed")
            && attempt < 2
            && start == for_start
            && let Some((spec, tz, _)) = settings_of(tx, tenant_id).await?
            && let Some(due) = plan::retry_at(&spec, &tz, at(start)?, at(now)?)
        {
            tx.execute_cached(
                "INSERT INTO reminder_calls (tenant_id, appointment_id, for_start, hours_before, attempt,
                    to_number, due_at, created_at, updated_at)
                 SELECT $1, $2, $3, $4, 2, $5, $6, $7, $7
                 WHERE EXISTS (SELECT 1 FROM appointments WHERE id = $2 AND status = 'booked')
                 ON CONFLICT DO NOTHING",
                &[
                    &tenant_id,
                    &appointment_id,
                    &for_start,
                    &hours_before,
                    &to,
                    &due.as_second(),
                    &now,
                ],
            )
            .await?;
            retry = Some(due.as_second());
        }
        Ok(Settled::Ended { retry })
    })
    .await
}
