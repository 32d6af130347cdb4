//! Appointments and the booking transactions on PostgreSQL ([`crate::db::appointments`]
//! is the interface). Every change runs at READ COMMITTED in one transaction through
//! [`Pg::write_retry`] (a deadlock or serialization failure runs it again, a bounded
//! number of times). Overlaps are refused by the database for every node at once: the
//! cells' primary key (SQLSTATE 23505, cells inserted in ascending order so two bookings
//! never wait on each other in a circle) and the exclusion constraint over the blocked
//! range (23P01) both mean "taken". What SQLite's single writer gives by running one
//! transaction at a time is kept here by locks: the appointment a change reads its
//! status from is locked (`FOR UPDATE`), bookings from one number take a transaction
//! lock on it before counting against the per-caller cap, and a change that finds its
//! time taken or its hold gone looks again for the callback's answer, so a duplicate
//! callback racing the first gets the first's answer, as it would on SQLite.

use super::cached::Cached;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::{Pg, answers, code, events, reminder_plans, sqlstate, text_plans};
use crate::db::{
    DbError,
    appointments::{
        AppointmentRow, BookOutcome, ChangeOutcome, ConfirmOutcome, ListQuery, Move,
        NewAppointment, Notify, admin_json, cells,
    },
    calls::Answer,
    console::{AgendaItem, DayCounts},
};

/// An appointment with its service's and provider's names ([`row`] reads them).
const SELECT_ROW: &str = "SELECT a.id, s.name, p.name, a.customer_name, a.customer_phone, a.start_at,
        a.end_at, a.status, a.call_sid, a.reminder_calls
    FROM appointments a JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id";

/// How many columns [`row`] reads (the next ones are a query's own).
const ROW_COLUMNS: usize = 10;

fn row(r: &Row) -> AppointmentRow {
    let reminder_calls: String = r.get(9);
    AppointmentRow {
        id: r.get(0),
        service: r.get(1),
        provider: r.get(2),
        customer_name: r.get(3),
        customer_phone: r.get(4),
        start_at: r.get(5),
        end_at: r.get(6),
        status: r.get(7),
        call_sid: r.get(8),
        reminder_calls: serde_json::from_str(&reminder_calls).unwrap_or_default(),
    }
}

/// One appointment of `tenant`.
pub async fn get(c: &impl GenericClient, tenant: i64, id: i64) -> Result<AppointmentRow, DbError> {
    c.query_opt(
        &format!("{SELECT_ROW} WHERE a.tenant_id = $1 AND a.id = $2"),
        &[&tenant, &id],
    )
    .await?
    .map(|r| row(&r))
    .ok_or(DbError::NotFound)
}

/// Appointment `id` of `tenant` as the admin API shows it ([`admin_json`]).
pub async fn admin_json_of(
    c: &impl GenericClient,
    tenant: i64,
    id: i64,
) -> Result<serde_json::Value, DbError> {
    let appointment = get(c, tenant, id).await?;
    let zone: String = c
        .query_one_cached("SELECT timezone FROM tenants WHERE id = $1", &[&tenant])
        .await?
        .get(0);
    let tz = crate::tzdb::get(&zone).map_err(crate::db::tenants::corrupt)?;
    Ok(admin_json(&appointment, &tz))
}

/// True when `e` says the time asked for is taken: an occupied cell or an overlapping
/// live appointment.
fn is_taken(e: &DbError) -> bool {
    let DbError::Postgres(e) = e else {
        return false;
    };
    match code(e) {
        Some(sqlstate::EXCLUSION_VIOLATION) => true,
        Some(sqlstate::UNIQUE_VIOLATION) => e
            .as_db_error()
            .is_some_and(|d| d.table() == Some("appointment_cells")),
        _ => false,
    }
}

/// What a change by a callback that lost a race (`lost`) answers: the answer another
/// transaction stored for the same callback meanwhile, if one did (a duplicate that got
/// in first), else `lost` itself.
async fn answered_meanwhile<T>(
    pg: &Pg,
    answer: Option<&Answer>,
    lost: Result<T, DbError>,
    already: impl FnOnce(String) -> T,
) -> Result<T, DbError> {
    if let Some(a) = answer
        && let Some(previous) = answers::callback_answer_of(pg, &a.call_sid, &a.step).await?
    {
        return Ok(already(previous));
    }
    lost
}

/// Books `appt` unless its time is taken (see [`crate::db::appointments::Appointments::book`]).
pub async fn book(
    pg: &Pg,
    appt: &NewAppointment,
    answer: Option<&Answer>,
    now: i64,
) -> Result<BookOutcome, DbError> {
    match pg
        .write_retry(|| async |tx| book_in(tx, appt, answer, now).await)
        .await
    {
        Err(e) if is_taken(&e) => {
            answered_meanwhile(
                pg,
                answer,
                Ok(BookOutcome::Taken),
                BookOutcome::AlreadyAnswered,
            )
            .await
        }
        Err(e) if answers::is_answered_clash(&e) => {
            answered_meanwhile(pg, answer, Err(e), BookOutcome::AlreadyAnswered).await
        }
        other => other,
    }
}

async fn book_in(
    tx: &Transaction<'_>,
    appt: &NewAppointment,
    answer: Option<&Answer>,
    now: i64,
) -> Result<BookOutcome, DbError> {
    if let Some(a) = answer
        && let Some(previous) = answers::callback_answer(tx, &a.call_sid, &a.step).await?
    {
        return Ok(BookOutcome::AlreadyAnswered(previous));
    }
    if let Some(cap) = appt.cap {
        let (phone, caller) = (
            appt.customer_phone.as_deref(),
            appt.caller_number.as_deref(),
        );
        if let Some(number) = phone.or(caller) {
            lock_numbers(tx, appt.tenant_id, number, caller).await?;
            let held = future_bookings_of(tx, appt.tenant_id, number, caller, now).await?;
            if held >= cap {
                return Ok(BookOutcome::OverCap(held));
            }
        }
    }
    drop_expired_holds(tx, appt.provider_id, appt.start, appt.blocked_until, now).await?;
    let status = if appt.hold_until.is_some() {
        "held"
    } else {
        "booked"
    };
    let id: i64 = tx
        .query_one_cached(
            "INSERT INTO appointments (tenant_id, service_id, provider_id, customer_name, customer_phone,
                start_at, end_at, blocked_until, status, hold_expires_at, call_sid, created_at, updated_at,
                caller_number)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)
             RETURNING id",
            &[
                &appt.tenant_id,
                &appt.service_id,
                &appt.provider_id,
                &appt.customer_name,
                &appt.customer_phone,
                &appt.start,
                &appt.end,
                &appt.blocked_until,
                &status,
                &appt.hold_until,
                &appt.call_sid,
                &now,
                &appt.caller_number,
            ],
        )
        .await?
        .get(0);
    claim_cells(tx, appt.provider_id, appt.start, appt.blocked_until, id).await?;
    // A held slot texts nobody yet: its texts are queued when the caller confirms.
    if appt.hold_until.is_none() {
        text_plans::queue_planned(tx, appt.tenant_id, id, &appt.texts, now).await?;
        events::appointment_event(tx, appt.tenant_id, id, "booked", now).await?;
        reminder_plans::plan_for(tx, id, now).await?;
    }
    if let Some(a) = answer {
        answers::store_answer(tx, a).await?;
    }
    Ok(BookOutcome::Booked(id))
}

/// Takes the transaction lock of each of a booking's numbers at `tenant` (in one order, so
/// two bookings never wait on each other in a circle): of two bookings from one number at
/// once, the second counts the first's appointment against the cap once it committed.
async fn lock_numbers(
    tx: &Transaction<'_>,
    tenant: i64,
    number: &str,
    other: Option<&str>,
) -> Result<(), DbError> {
    let key = |n: &str| format!("slotline.cap:{tenant}:{n}");
    let (mut a, mut b) = (key(number), key(other.unwrap_or(number)));
    if b < a {
        std::mem::swap(&mut a, &mut b);
    }
    tx.execute_cached(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)),
                pg_advisory_xact_lock(hashtextextended($2, 0))",
        &[&a, &b],
    )
    .await?;
    Ok(())
}

/// Inserts the cells of `[start, blocked_until)` for `appointment`, in ascending order, in
/// one statement; an occupied one fails it with SQLSTATE 23505 ([`is_taken`]).
async fn claim_cells(
    tx: &Transaction<'_>,
    provider: i64,
    start: i64,
    blocked_until: i64,
    appointment: i64,
) -> Result<(), DbError> {
    let cells = cells(start, blocked_until);
    tx.execute_cached(
        "INSERT INTO appointment_cells (provider_id, cell, appointment_id)
         SELECT $1, g, $3 FROM generate_series($2::BIGINT, $4::BIGINT - 1) AS g ORDER BY g",
        &[&provider, &cells.start, &appointment, &cells.end],
    )
    .await?;
    Ok(())
}

/// Deletes expired holds of `provider` overlapping `[start, end)` (their cells cascade).
async fn drop_expired_holds(
    tx: &Transaction<'_>,
    provider: i64,
    start: i64,
    end: i64,
    now: i64,
) -> Result<(), DbError> {
    tx.execute_cached(
        "DELETE FROM appointments WHERE provider_id = $1 AND status = 'held'
           AND hold_expires_at <= $4 AND start_at < $3 AND blocked_until > $2
           AND start_at > $2 - 86400",
        &[&provider, &start, &end, &now],
    )
    .await?;
    Ok(())
}

/// Confirms the slot held for the answer's call, storing `answer` and queueing `texts`.
pub async fn confirm_hold(
    pg: &Pg,
    answer: &Answer,
    texts: &[crate::sms::PlannedText],
    now: i64,
) -> Result<ConfirmOutcome, DbError> {
    let done = pg
        .write_retry(|| async |tx| {
            if let Some(previous) =
                answers::callback_answer(tx, &answer.call_sid, &answer.step).await?
            {
                return Ok(ConfirmOutcome::AlreadyAnswered(previous));
            }
            let Some(held) = tx
                .query_opt_cached(
                    "UPDATE appointments SET status = 'booked', hold_expires_at = NULL, updated_at = $2,
                        sequence = sequence + 1
                     WHERE id = (SELECT id FROM appointments WHERE call_sid = $1 AND status = 'held'
                                 ORDER BY id DESC LIMIT 1)
                       AND status = 'held'
                     RETURNING id, tenant_id",
                    &[&answer.call_sid, &now],
                )
                .await?
            else {
                return Ok(ConfirmOutcome::Gone);
            };
            let (id, tenant_id): (i64, i64) = (held.get(0), held.get(1));
            text_plans::queue_planned(tx, tenant_id, id, texts, now).await?;
            events::appointment_event(tx, tenant_id, id, "booked", now).await?;
            reminder_plans::plan_for(tx, id, now).await?;
            answers::store_answer(tx, answer).await?;
            Ok(ConfirmOutcome::Confirmed(id))
        })
        .await;
    match done {
        Ok(ConfirmOutcome::Gone) => {
            let gone = Ok(ConfirmOutcome::Gone);
            answered_meanwhile(pg, Some(answer), gone, ConfirmOutcome::AlreadyAnswered).await
        }
        Err(e) if answers::is_answered_clash(&e) => {
            answered_meanwhile(pg, Some(answer), Err(e), ConfirmOutcome::AlreadyAnswered).await
        }
        other => other,
    }
}

/// The appointment held for `call_sid`, if one is ([`DbError::NotFound`] when it is not
/// `tenant`'s, as on SQLite).
pub async fn held_for_call(
    pg: &Pg,
    tenant: i64,
    call_sid: &str,
) -> Result<Option<AppointmentRow>, DbError> {
    pg.run(async |c| {
        let Some(held) = c
            .query_opt(
                &format!(
                    "{SELECT_ROW_WITH_REFS} WHERE a.call_sid = $1 AND a.status = 'held'
                     ORDER BY a.id DESC LIMIT 1"
                ),
                &[&call_sid],
            )
            .await?
        else {
            return Ok(None);
        };
        if held.get::<_, i64>(ROW_COLUMNS + 2) != tenant {
            return Err(DbError::NotFound);
        }
        Ok(Some(row(&held)))
    })
    .await
}

/// The caller said no to a held slot: releases the call's hold and stores `answer`,
/// unless this callback was answered before. Returns the answer now stored.
pub async fn decline_hold(pg: &Pg, answer: &Answer) -> Result<String, DbError> {
    let done = pg
        .write_retry(|| {
            async |tx| {
                if let Some(previous) =
                    answers::callback_answer(tx, &answer.call_sid, &answer.step).await?
                {
                    return Ok(previous);
                }
                tx.execute_cached(
                    "DELETE FROM appointments WHERE call_sid = $1 AND status = 'held'",
                    &[&answer.call_sid],
                )
                .await?;
                answers::store_answer(tx, answer).await?;
                Ok(answer.texml.clone())
            }
        })
        .await;
    match done {
        Err(e) if answers::is_answered_clash(&e) => {
            answered_meanwhile(pg, Some(answer), Err(e), |a| a).await
        }
        other => other,
    }
}

/// Deletes every expired hold; returns how many.
pub async fn sweep_expired_holds(pg: &Pg, now: i64) -> Result<usize, DbError> {
    pg.write(async |tx| {
        Ok(tx
            .execute_cached(
                "DELETE FROM appointments WHERE status = 'held' AND hold_expires_at <= $1",
                &[&now],
            )
            .await? as usize)
    })
    .await
}

/// The status of appointment `id` of `tenant`, locked until the transaction ends (so two
/// nodes' changes of one appointment run one after the other), or `None`.
async fn status_of(tx: &Transaction<'_>, tenant: i64, id: i64) -> Result<Option<String>, DbError> {
    Ok(tx
        .query_opt_cached(
            "SELECT status FROM appointments WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
            &[&id, &tenant],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Frees a cancelled appointment's cells and withdraws its waiting texts and calls.
async fn release(tx: &Transaction<'_>, appointment_id: i64) -> Result<(), DbError> {
    tx.execute_cached(
        "DELETE FROM appointment_cells WHERE appointment_id = $1",
        &[&appointment_id],
    )
    .await?;
    let now = jiff::Timestamp::now().as_second();
    text_plans::cancel_texts_for(tx, appointment_id, now).await?;
    reminder_plans::withdraw_for(tx, appointment_id, now).await?;
    Ok(())
}

/// Queues the `kind` text about appointment `id` to `notify`, if given.
async fn queue_change_text(
    tx: &Transaction<'_>,
    tenant: i64,
    id: i64,
    kind: crate::sms::Kind,
    notify: Option<&Notify>,
    now: i64,
) -> Result<(), DbError> {
    let Some(n) = notify else { return Ok(()) };
    let (to, from, profile) = (&n.to, &n.from, n.profile.as_deref());
    text_plans::queue_one(tx, tenant, Some(id), kind, to, from, profile, None, now).await?;
    Ok(())
}

/// The operator cancels appointment `id` of `tenant`; cancelling twice changes nothing.
pub async fn cancel(
    pg: &Pg,
    tenant: i64,
    id: i64,
    notify: Option<&Notify>,
    now: i64,
) -> Result<AppointmentRow, DbError> {
    pg.write_retry(|| {
        async |tx| {
            let before = status_of(tx, tenant, id).await?;
            match before.as_deref() {
                None => return Err(DbError::NotFound),
                Some("cancelled") => return get_in(tx, tenant, id).await,
                Some(_) => {}
            }
            tx.execute_cached(
            "UPDATE appointments SET status = 'cancelled', hold_expires_at = NULL, updated_at = $2,
                sequence = sequence + 1
             WHERE id = $1",
            &[&id, &now],
        )
        .await?;
            release(tx, id).await?;
            // A hold was never announced as booked, so its end is not announced either.
            if before.as_deref() == Some("booked") {
                events::appointment_event(tx, tenant, id, "cancelled", now).await?;
                queue_change_text(tx, tenant, id, crate::sms::Kind::Cancelled, notify, now).await?;
            }
            get_in(tx, tenant, id).await
        }
    })
    .await
}

/// Moves booked appointment `id` of `tenant` in the caller's transaction: `Ok(())` when
/// moved; a taken new time fails it ([`is_taken`]), an appointment not booked is
/// [`DbError::Conflict`], one not there [`DbError::NotFound`].
async fn move_in(
    tx: &Transaction<'_>,
    tenant: i64,
    id: i64,
    to: Move,
    default_profile: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    match status_of(tx, tenant, id).await?.as_deref() {
        None => return Err(DbError::NotFound),
        Some("booked") => {}
        Some(other) => {
            return Err(DbError::Conflict(format!(
                "status: the appointment is {other}; only booked appointments can be moved"
            )));
        }
    }
    drop_expired_holds(tx, to.provider_id, to.start, to.blocked_until, now).await?;
    tx.execute_cached(
        "DELETE FROM appointment_cells WHERE appointment_id = $1",
        &[&id],
    )
    .await?;
    tx.execute_cached(
        "UPDATE appointments SET provider_id = $2, start_at = $3, end_at = $4, blocked_until = $5,
            updated_at = $6, sequence = sequence + 1 WHERE id = $1",
        &[
            &id,
            &to.provider_id,
            &to.start,
            &to.end,
            &to.blocked_until,
            &now,
        ],
    )
    .await?;
    claim_cells(tx, to.provider_id, to.start, to.blocked_until, id).await?;
    // Reminders follow the appointment to its new time.
    text_plans::replan_texts_for(tx, id, default_profile, now).await?;
    events::appointment_event(tx, tenant, id, "rescheduled", now).await?;
    reminder_plans::plan_for(tx, id, now).await?;
    Ok(())
}

/// The operator moves booked appointment `id` of `tenant`; `Ok(false)` when the new time
/// is taken (and nothing changed).
pub async fn reschedule(
    pg: &Pg,
    tenant: i64,
    id: i64,
    to: Move,
    default_profile: Option<&str>,
    notify: Option<&Notify>,
    now: i64,
) -> Result<bool, DbError> {
    let done = pg
        .write_retry(|| {
            async |tx| {
                move_in(tx, tenant, id, to, default_profile, now).await?;
                queue_change_text(tx, tenant, id, crate::sms::Kind::Moved, notify, now).await
            }
        })
        .await;
    match done {
        Ok(()) => Ok(true),
        Err(e) if is_taken(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A caller moves booked appointment `id`, all or nothing, with `answer` stored.
#[allow(clippy::too_many_arguments)]
pub async fn move_for_call(
    pg: &Pg,
    tenant: i64,
    id: i64,
    to: Move,
    default_profile: Option<&str>,
    notify: Option<&Notify>,
    answer: &Answer,
    now: i64,
) -> Result<ChangeOutcome, DbError> {
    let done = pg
        .write_retry(|| {
            async |tx| {
                if let Some(previous) =
                    answers::callback_answer(tx, &answer.call_sid, &answer.step).await?
                {
                    return Ok(ChangeOutcome::AlreadyAnswered(previous));
                }
                match move_in(tx, tenant, id, to, default_profile, now).await {
                    Ok(()) => {}
                    Err(DbError::Conflict(_)) => return Ok(ChangeOutcome::NotBooked),
                    Err(e) => return Err(e),
                }
                let kind = crate::sms::Kind::Moved;
                queue_change_text(tx, tenant, id, kind, notify, now).await?;
                answers::store_answer(tx, answer).await?;
                Ok(ChangeOutcome::Done)
            }
        })
        .await;
    changed_or_answered(pg, answer, done).await
}

/// A change by phone that lost a race: a taken time is [`ChangeOutcome::Taken`], and a
/// duplicate callback that got in first is answered with its answer.
async fn changed_or_answered(
    pg: &Pg,
    answer: &Answer,
    done: Result<ChangeOutcome, DbError>,
) -> Result<ChangeOutcome, DbError> {
    let lost = match done {
        Err(e) if is_taken(&e) => Ok(ChangeOutcome::Taken),
        Err(e) if answers::is_answered_clash(&e) => Err(e),
        Ok(ChangeOutcome::NotBooked) => Ok(ChangeOutcome::NotBooked),
        other => return other,
    };
    answered_meanwhile(pg, Some(answer), lost, ChangeOutcome::AlreadyAnswered).await
}

/// Cancels a booked appointment in the caller's transaction: frees its time, withdraws
/// its waiting texts and calls and queues `appointment.cancelled`. False when it was not
/// booked. (Public for a change of another aggregate that cancels in its own transaction,
/// as SQLite's `C` reply does.)
pub async fn cancel_appointment(
    tx: &Transaction<'_>,
    appointment_id: i64,
) -> Result<bool, DbError> {
    let now = jiff::Timestamp::now().as_second();
    let Some(row) = tx
        .query_opt_cached(
            "UPDATE appointments SET status = 'cancelled', sequence = sequence + 1,
                updated_at = GREATEST(updated_at, $2)
             WHERE id = $1 AND status = 'booked' RETURNING tenant_id",
            &[&appointment_id, &now],
        )
        .await?
    else {
        return Ok(false);
    };
    release(tx, appointment_id).await?;
    events::appointment_event(tx, row.get(0), appointment_id, "cancelled", now).await?;
    Ok(true)
}

/// A caller cancels booked appointment `id`, all or nothing, with `answer` stored.
pub async fn cancel_for_call(
    pg: &Pg,
    tenant: i64,
    id: i64,
    notify: Option<&Notify>,
    answer: &Answer,
    now: i64,
) -> Result<ChangeOutcome, DbError> {
    let done = pg
        .write_retry(|| {
            async |tx| {
                if let Some(previous) =
                    answers::callback_answer(tx, &answer.call_sid, &answer.step).await?
                {
                    return Ok(ChangeOutcome::AlreadyAnswered(previous));
                }
                if status_of(tx, tenant, id).await?.is_none() || !cancel_appointment(tx, id).await?
                {
                    return Ok(ChangeOutcome::NotBooked);
                }
                tx.execute_cached(
                    "UPDATE appointments SET updated_at = $2 WHERE id = $1",
                    &[&id, &now],
                )
                .await?;
                let kind = crate::sms::Kind::Cancelled;
                queue_change_text(tx, tenant, id, kind, notify, now).await?;
                answers::store_answer(tx, answer).await?;
                Ok(ChangeOutcome::Done)
            }
        })
        .await;
    changed_or_answered(pg, answer, done).await
}

/// One appointment of `tenant`, in a transaction.
async fn get_in(tx: &Transaction<'_>, tenant: i64, id: i64) -> Result<AppointmentRow, DbError> {
    get(tx, tenant, id).await
}

/// One appointment of `tenant`, on a connection of the pool.
pub async fn get_of(pg: &Pg, tenant: i64, id: i64) -> Result<AppointmentRow, DbError> {
    pg.run(async |c| get(c, tenant, id).await).await
}

/// A caller's upcoming booked appointments with `tenant`, soonest first (at most 10), each
/// with its service and provider ids.
pub async fn upcoming_of(
    pg: &Pg,
    tenant: i64,
    number: &str,
    now: i64,
) -> Result<Vec<(AppointmentRow, i64, i64)>, DbError> {
    pg.run(async |c| {
        let rows = c
            .query(
                &format!(
                    "{SELECT_ROW_WITH_REFS} WHERE a.id IN (
                         SELECT id FROM appointments WHERE tenant_id = $1 AND customer_phone = $2 AND start_at > $3 AND status = 'booked'
                         UNION
                         SELECT id FROM appointments WHERE tenant_id = $1 AND caller_number = $2 AND start_at > $3 AND status = 'booked')
                     ORDER BY a.start_at, a.id LIMIT 10"
                ),
                &[&tenant, &number, &now],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (row(r), r.get(ROW_COLUMNS), r.get(ROW_COLUMNS + 1)))
            .collect())
    })
    .await
}

/// [`SELECT_ROW`] with the service, provider and tenant ids after the row's columns.
const SELECT_ROW_WITH_REFS: &str = "SELECT a.id, s.name, p.name, a.customer_name, a.customer_phone, a.start_at,
        a.end_at, a.status, a.call_sid, a.reminder_calls, a.service_id, a.provider_id, a.tenant_id
    FROM appointments a JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id";

/// Busy time of `tenant`'s providers overlapping `[from, to)` at `now`: (provider id,
/// start, blocked_until), by start.
pub async fn busy(
    c: &impl GenericClient,
    tenant: i64,
    from: i64,
    to: i64,
    now: i64,
) -> Result<Vec<(i64, i64, i64)>, DbError> {
    let rows = c
        .query_cached(
            "SELECT provider_id, start_at, blocked_until FROM appointments
             WHERE tenant_id = $1 AND start_at < $3 AND blocked_until > $2
               AND start_at > $2 - 86400
               AND (status = 'booked' OR (status = 'held' AND hold_expires_at > $4))
             ORDER BY start_at",
            &[&tenant, &from, &to, &now],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// [`busy`] on a connection of the pool.
pub async fn busy_of(
    pg: &Pg,
    tenant: i64,
    from: i64,
    to: i64,
    now: i64,
) -> Result<Vec<(i64, i64, i64)>, DbError> {
    pg.run(async |c| busy(c, tenant, from, to, now).await).await
}

/// On one connection: how many upcoming appointments `number` and `other` hold with
/// `tenant` (`None` without a number), and the busy time in `range` when given.
pub async fn cap_and_busy(
    pg: &Pg,
    tenant: i64,
    number: Option<&str>,
    other: Option<&str>,
    range: Option<(i64, i64)>,
    now: i64,
) -> Result<(Option<u32>, Vec<(i64, i64, i64)>), DbError> {
    pg.run(async |c| {
        let held = match number {
            Some(n) => Some(future_bookings_of(c, tenant, n, other, now).await?),
            None => None,
        };
        let busy = match range {
            Some((from, to)) => busy(c, tenant, from, to, now).await?,
            None => Vec::new(),
        };
        Ok((held, busy))
    })
    .await
}

/// How many future appointments with the tenant (booked, or held and not expired) are in
/// the name of `number` or `other`.
pub async fn future_bookings_of(
    c: &impl GenericClient,
    tenant_id: i64,
    number: &str,
    other: Option<&str>,
    now: i64,
) -> Result<u32, DbError> {
    let n: i64 = c
        .query_one_cached(
            "SELECT COUNT(*) FROM appointments
             WHERE tenant_id = $1
               AND (customer_phone IN ($2, $3) OR caller_number IN ($2, $3))
               AND start_at > $4
               AND (status = 'booked' OR (status = 'held' AND hold_expires_at > $4))",
            &[&tenant_id, &number, &other.unwrap_or(number), &now],
        )
        .await?
        .get(0);
    super::ints::exact(n)
}

/// The service and provider ids of appointment `id` of `tenant`.
pub async fn refs(pg: &Pg, tenant: i64, id: i64) -> Result<(i64, i64), DbError> {
    pg.run(async |c| {
        c.query_opt_cached(
            "SELECT service_id, provider_id FROM appointments WHERE tenant_id = $1 AND id = $2",
            &[&tenant, &id],
        )
        .await?
        .map(|r| (r.get(0), r.get(1)))
        .ok_or(DbError::NotFound)
    })
    .await
}

/// One page of the tenant's appointments (not expired holds), soonest first.
pub async fn list(
    pg: &Pg,
    tenant_id: i64,
    now: i64,
    q: &ListQuery,
) -> Result<Vec<AppointmentRow>, DbError> {
    let (after_start, after_id) = q.after.unwrap_or((i64::MIN, i64::MIN));
    let limit = super::ints::big(q.limit);
    pg.run(async |c| {
        let rows = c
            .query(
                &format!(
                    "{SELECT_ROW} WHERE a.tenant_id = $1 AND NOT (a.status = 'held' AND a.hold_expires_at <= $2)
                       AND ($3::BIGINT IS NULL OR a.start_at >= $3) AND ($4::BIGINT IS NULL OR a.start_at < $4)
                       AND ($5::TEXT IS NULL OR a.call_sid = $5)
                       AND (a.start_at, a.id) > ($6, $7)
                     ORDER BY a.start_at, a.id LIMIT $8"
                ),
                &[
                    &tenant_id,
                    &now,
                    &q.from,
                    &q.to,
                    &q.call_sid,
                    &after_start,
                    &after_id,
                    &limit,
                ],
            )
            .await?;
        Ok(rows.iter().map(row).collect())
    })
    .await
}

/// Held and booked appointments of `tenant`, all time, by provider then start.
pub async fn booked_intervals(pg: &Pg, tenant: i64) -> Result<Vec<(i64, i64, i64)>, DbError> {
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT provider_id, start_at, blocked_until FROM appointments
                 WHERE tenant_id = $1 AND status IN ('booked', 'held') ORDER BY provider_id, start_at",
                &[&tenant],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    })
    .await
}

/// The console's agenda (twin of `db::console::agenda`).
pub async fn agenda(
    pg: &Pg,
    tenant: i64,
    from: i64,
    to: i64,
    now: i64,
) -> Result<Vec<AgendaItem>, DbError> {
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT a.id, a.provider_id, s.name, a.customer_name, a.customer_phone, a.start_at,
                        a.end_at, a.status,
                        EXISTS (SELECT 1 FROM outbox o WHERE o.appointment_id = a.id
                                  AND o.kind = 'reminder' AND o.status IN ('sent', 'delivered', 'dry_run'))
                 FROM appointments a JOIN services s ON s.id = a.service_id
                 WHERE a.tenant_id = $1 AND a.start_at >= $2 AND a.start_at < $3
                   AND NOT (a.status = 'held' AND a.hold_expires_at <= $4)
                 ORDER BY a.start_at, a.id",
                &[&tenant, &from, &to, &now],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AgendaItem {
                id: r.get(0),
                provider_id: r.get(1),
                service: r.get(2),
                customer_name: r.get(3),
                customer_phone: r.get(4),
                start_at: r.get(5),
                end_at: r.get(6),
                status: r.get(7),
                reminded: r.get(8),
            })
            .collect())
    })
    .await
}

/// The console's counts for each (tenant, from, to) of `days` (twin of
/// `db::console::day_counts`), on one connection.
pub async fn day_counts(pg: &Pg, days: &[(i64, i64, i64)]) -> Result<Vec<DayCounts>, DbError> {
    pg.run(async |c| {
        let mut out = Vec::with_capacity(days.len());
        for (tenant, from, to) in days {
            let r = c
                .query_one_cached(
                    "SELECT
                       (SELECT COUNT(*) FROM appointments WHERE tenant_id = $1 AND status = 'booked'
                          AND start_at >= $2 AND start_at < $3),
                       (SELECT COUNT(*) FROM calls WHERE tenant_id = $1
                          AND started_at >= $2 AND started_at < $3),
                       (SELECT COUNT(*) FROM outbox WHERE tenant_id = $1 AND status = 'failed'
                          AND due_at >= $2 AND due_at < $3)",
                    &[tenant, from, to],
                )
                .await?;
            out.push(DayCounts {
                bookings: r.get(0),
                calls: r.get(1),
                failed_texts: r.get(2),
            });
        }
        Ok(out)
    })
    .await
}
